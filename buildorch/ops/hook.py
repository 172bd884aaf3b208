"""The pre-push hook: install/uninstall the script git runs, and what it runs.

What is built is the pushed commit, never the working tree: the plan compares the pushed
commit's tree with the remote's (both read from git objects, no engine, so "nothing stale" is
quick). What that comparison finds changed is then checked against the manifest, as `build`
does: an image whose digest at the pushed commit is the manifest's, and whose image in the
engine carries that digest, is built already (pushing right after a build starts nothing, on
any branch). The rest is built in the repository itself if the pushed commit is HEAD and the
working tree is clean (the caches and the manifest there are reused); otherwise in a temporary
`git worktree` of the pushed commit, removed afterwards.
"""

from __future__ import annotations

import shlex
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from buildorch.config import Config
from buildorch.dockerlang.golang import has_wildcards
from buildorch.edges import git as gitdoor
from buildorch.edges import state
from buildorch.edges.git import CommitTree, Tree
from buildorch.edges.state import Record
from buildorch.errors import BuildorchError
from buildorch.planning import baseline as project
from buildorch.planning.digest import Snapshot, snapshot
from buildorch.planning.inputs import Analyses, Reader, resolved_analyses
from buildorch.planning.plan import Plan, make_plan

SIGNATURE = "# buildorch-managed pre-push hook (buildorch hook install / uninstall)"
HOOK = "pre-push"
BACKUP = "pre-push.buildorch-backup"
ZERO = "0" * 40


def hooks_dir(cwd: Path) -> Path:
    """Where git looks for hooks here: honours core.hooksPath and worktrees."""
    out = gitdoor.run(cwd, "rev-parse", "--git-path", "hooks").decode().strip()
    path = Path(out)
    return path if path.is_absolute() else (cwd / path).resolve()


def script(python: str, config: str | None) -> str:
    opts = f" --config {shlex.quote(config)}" if config else ""
    return (
        "#!/bin/sh\n"
        f"{SIGNATURE}\n"
        "# Skip with BUILDORCH_SKIP=1 or `git push --no-verify`.\n"
        '[ "${BUILDORCH_SKIP:-}" = 1 ] && exit 0\n'
        f'exec {shlex.quote(python)} -m buildorch{opts} hook run-pre-push "$@"\n'
    )


def _ours(path: Path) -> bool:
    try:
        return SIGNATURE in path.read_text(errors="replace")
    except OSError:
        return False


def install(cwd: Path, *, force: bool = False, config: str | None = None,
            python: str = sys.executable) -> str:
    """Write the hook; a foreign one is moved to pre-push.buildorch-backup only with `force`."""
    d = hooks_dir(cwd)
    hook, backup = d / HOOK, d / BACKUP
    note = ""
    if hook.exists() and not _ours(hook):
        if not force:
            raise BuildorchError(f"{hook} exists and was not written by buildorch; "
                                 "pass --force to replace it (it is kept as " f"{BACKUP})")
        if backup.exists():
            raise BuildorchError(f"{backup} already exists; move it away first, then "
                                 "`buildorch hook install --force`")
        hook.replace(backup)
        note = f" (previous hook kept as {backup})"
    d.mkdir(parents=True, exist_ok=True)
    state.atomic_write(hook, script(python, config).encode(), executable=True)
    return f"installed {hook}{note}"


def uninstall(cwd: Path) -> str:
    d = hooks_dir(cwd)
    hook, backup = d / HOOK, d / BACKUP
    if hook.exists() and not _ours(hook):
        raise BuildorchError(f"{hook} was not written by buildorch; left alone")
    if not hook.exists() and not backup.exists():
        return f"no buildorch hook in {d}"
    hook.unlink(missing_ok=True)
    if backup.exists():
        backup.replace(hook)
        return f"removed the buildorch hook; restored the previous one to {hook}"
    return f"removed {hook}"


@dataclass(frozen=True)
class PushedRef:
    local_ref: str
    local_sha: str
    remote_ref: str
    remote_sha: str


def parse_refs(lines: Iterable[str]) -> list[PushedRef]:
    """git's pre-push stdin: `<local ref> <local sha> <remote ref> <remote sha>` per line."""
    refs = []
    for line in lines:
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4:
            raise BuildorchError(f"pre-push: unexpected line from git: {line.strip()!r}")
        refs.append(PushedRef(*parts))
    return refs


def _is_commit(root: Path, sha: str) -> bool:
    return gitdoor.succeeds(root, "cat-file", "-e", f"{sha}^{{commit}}")


def baseline_for(root: Path, ref: PushedRef, remote: str = "origin") -> tuple[str | None, str]:
    """The commit to compare the pushed one with (None: everything), and why that one."""
    if ref.remote_sha != ZERO:
        if _is_commit(root, ref.remote_sha):
            return ref.remote_sha, f"{ref.remote_ref} on the remote ({ref.remote_sha[:10]})"
        return _nearest(root, ref, remote)
    out = gitdoor.run(root, "merge-base", ref.local_sha, "HEAD@{upstream}", check=False)
    if out.strip():
        sha = out.decode().strip()
        return sha, f"the merge-base with the upstream ({sha[:10]})"
    return None, "a new branch with no upstream: every image counts as changed"


def _nearest(root: Path, ref: PushedRef, remote: str) -> tuple[str | None, str]:
    """The remote's sha is not here (a force-push over commits this clone never fetched, a
    shallow clone): the nearest commit it has on that branch is the baseline, the merge-base
    with the remote-tracking ref; with none, every image is planned. Said in one line."""
    where = "shallow clone" if gitdoor.is_shallow(root) else "clone"
    gone = f"the remote's {ref.remote_ref} ({ref.remote_sha[:10]}) is not in this {where}"
    branch = ref.remote_ref.removeprefix("refs/heads/")
    for tracking in (f"refs/remotes/{remote}/{branch}", "HEAD@{upstream}"):
        out = gitdoor.run(root, "merge-base", ref.local_sha, tracking, check=False).strip()
        if out:
            sha = out.decode()
            return sha, (f"{sha[:10]} ({gone}: comparing with the nearest commit it has, the "
                         f"merge-base with {tracking.removeprefix('refs/remotes/')})")
    return None, (f"{gone} and no merge-base with it is: every image counts as changed "
                  f"(`git fetch {remote}` lets the hook compare)")


@dataclass(frozen=True)
class PushPlan:
    plan: Plan
    notes: tuple[str, ...]
    snapshot: Snapshot      # of the pushed commit, read from git objects
    tree: CommitTree
    baseline: Mapping[str, Record]   # the compared commit's records (empty: a new branch)


def plan_push(cfg: Config, local_sha: str, since: str | None) -> PushPlan:
    """What is stale in `local_sha` compared with `since` (every image when None): from git
    objects only, whatever the working tree holds."""
    new_tree = CommitTree.at(cfg.root, local_sha)
    new_cfg, note = project.config_at(cfg, new_tree)
    notes = [note] if note else []
    now = snapshot(new_cfg, new_tree)
    baseline: dict[str, Record] = {}
    what = "nothing"
    if since is not None:
        old_tree = CommitTree.at(cfg.root, since)
        old_cfg, note = project.config_at(new_cfg, old_tree)
        if note:
            notes.append(note)
        try:
            baseline = dict(snapshot(old_cfg, old_tree).records)
        except BuildorchError as exc:
            notes.append(f"cannot analyse {old_tree.label} ({exc}); every image counts as "
                         "changed")
        what = since[:10]
    plan = make_plan(now, baseline, what=what, force_all=since is None)
    return PushPlan(plan, tuple(notes), now, new_tree, baseline)


def built_already(now: Snapshot, manifest: Mapping[str, Record],
                  engine: Mapping[str, str | None]) -> set[str]:
    """The images `build` would call up to date: the manifest's digest is the one they have
    now, and the engine holds an image carrying that digest under their tag."""
    return {n for n, r in now.records.items()
            if (m := manifest.get(n)) is not None and m.digest == r.digest
            and engine.get(n) == r.digest}


def trust_manifest(push: PushPlan, now: Snapshot, manifest: Mapping[str, Record],
                   engine: Mapping[str, str | None]) -> Plan:
    """The push's plan with what is built already taken out, as `build` plans: the changed
    images (and their ancestry) against the manifest and the engine. `now` is the snapshot the
    build will see (the working tree when the hook builds there: ignored files count). Pure."""
    changed = push.plan.names
    ok = built_already(now, manifest, engine)
    baseline = {n: r for n, r in now.records.items() if n not in changed or n in ok}
    baseline.update({n: push.baseline[n] for n in changed
                     if n not in ok and n in push.baseline})
    return make_plan(now, baseline, what=push.plan.baseline, selected=changed, engine=engine)


def _clean_head(root: Path, sha: str) -> bool:
    head = gitdoor.run(root, "rev-parse", "HEAD").decode().strip()
    return head == sha and not gitdoor.run(root, "status", "--porcelain").strip()


@contextmanager
def checkout_of(cfg: Config, sha: str) -> Iterator[tuple[Config, str]]:
    """The config of a tree holding exactly `sha`: the repository when it is HEAD and clean,
    else a temporary worktree (removed on exit). Also says which."""
    if _clean_head(cfg.root, sha):
        yield cfg, "building the working tree (it is the pushed commit, clean)"
        return
    with tempfile.TemporaryDirectory(prefix="buildorch-push-") as tmp:
        wt = Path(tmp) / "wt"
        gitdoor.run(cfg.root, "worktree", "add", "--detach", "--quiet", str(wt), sha)
        try:
            rel = cfg.path.relative_to(cfg.root)
            yield (project.open_config(wt / rel),
                   f"building {sha[:10]} in a temporary worktree (the working tree is not "
                   "the pushed commit)")
        finally:
            gitdoor.run(cfg.root, "worktree", "remove", "--force", str(wt), check=False)
            gitdoor.run(cfg.root, "worktree", "prune", check=False)


def ignored_sources(cfg: Config, tree: Tree, names: Iterable[str]) -> list[str]:
    """Why a build in a temporary worktree of `tree` can fail where one in the working tree
    would not: the COPY/ADD sources of `names` that the commit lacks but the working tree has,
    because git ignores them. One phrase each, naming the file and the ignore rule."""
    reader = Reader(cfg, tree)
    found: dict[str, str] = {}
    wanted = [n for n in names if n in cfg.images]
    # as the build reads them: a configured parent's ONBUILD COPY runs in the child's context
    for name, analysis in resolved_analyses(reader, Analyses(reader), wanted).items():
        image = cfg.images[name]
        if analysis is None:
            continue
        for src in analysis.context_sources:
            if src.pattern == "." or any(has_wildcards(p) for p in src.pattern.split("/")):
                continue
            path = src.pattern if image.context == "." else f"{image.context}/{src.pattern}"
            if path in found or tree.is_file(path) or tree.is_dir(path) or \
                    not (cfg.root / path).exists():
                continue
            found[path] = (f"{name}: {src.via}'s Dockerfile line {src.line}, ONBUILD" if src.via
                           else f"{name}: {image.dockerfile} line {src.line}")
    if not found:
        return []
    out = gitdoor.run(cfg.root, "check-ignore", "-v", "--", *found, check=False)
    lines = []
    for row in out.decode(errors="replace").splitlines():   # source:line:pattern<TAB>path
        rule, _, path = row.partition("\t")
        source, _, rest = rule.partition(":")
        line, _, pattern = rest.partition(":")
        if path in found:
            lines.append(f"{path} ({found[path]}) is in your working tree but ignored by git "
                         f"({source}:{line}: {pattern}), so the temporary worktree of the "
                         "pushed commit lacks it")
    return lines


BuildIn = Callable[[Config, tuple[str, ...]], tuple[str, tuple[str, ...]] | None]


def run_pre_push(cfg: Config, remote: str, lines: Iterable[str],
                 say: Callable[[str], None], build_in: BuildIn,
                 engine_images: Callable[[Config], Mapping[str, str | None] | None]) -> int:
    """For every pushed ref, build what it makes stale and is not built already.
    `build_in(cfg, names)` builds exactly those images in that checkout, parents as they are,
    and returns a one-line failure reason with the images that failed, or None.
    `engine_images(cfg)`: image name -> digest label of what the engine holds (None: no
    engine). 0 lets the push go, 1 blocks it."""
    done: set[tuple[str, str | None]] = set()
    for ref in parse_refs(lines):
        if ref.local_sha == ZERO:
            continue
        since, why = baseline_for(cfg.root, ref, remote)
        if (ref.local_sha, since) in done:
            continue
        done.add((ref.local_sha, since))
        push = plan_push(cfg, ref.local_sha, since)
        for n in push.notes:
            say(f"note: {n}")
        plan = push.plan
        if plan.stale:
            engine = engine_images(cfg)
            if engine is not None:
                in_place = _clean_head(cfg.root, ref.local_sha)
                now = project.work_snapshot(cfg) if in_place else push.snapshot
                plan = trust_manifest(push, now, state.load_manifest(cfg.state_dir).records,
                                      engine)
        if not plan.stale:
            built = len(push.plan.stale)
            since_text = f"since {why}" if since else f"({why})"
            say(f"buildorch: nothing to build for {ref.local_ref} -> {remote}: "
                + (f"{built} image(s) changed {since_text}, all built already (the manifest "
                   "and the engine agree)" if built else
                   f"{len(plan.fresh)} image(s) unchanged since {why}"))
            continue
        say(f"buildorch: {len(plan.stale)} image(s) stale in {ref.local_ref} "
            + (f"since {why}: " if since else f"({why}): ") + ", ".join(plan.names))
        with checkout_of(cfg, ref.local_sha) as (here, how):
            say(f"buildorch: {how}")
            failure = build_in(here, tuple(plan.names))
            if failure and here.root != cfg.root:
                reason, failed = failure
                try:
                    why_not = ignored_sources(cfg, push.tree, failed)
                except BuildorchError:
                    why_not = []
                if why_not:
                    failure = (f"{reason}; {'; '.join(why_not)}: make the working tree the "
                               "pushed commit (commit or `git stash` your other changes) so "
                               "that the hook builds there, or track the file (`git add -f`)",
                               failed)
        if failure:
            say(f"buildorch: push blocked: {failure[0]} "
                "(skip with BUILDORCH_SKIP=1 or git push --no-verify)")
            return 1
    return 0


def pre_commit_refs(env: dict[str, str]) -> list[str]:
    """Under the pre-commit framework git's stdin is not passed on; it exports the range as
    PRE_COMMIT_FROM_REF / PRE_COMMIT_TO_REF instead (FROM unset: a new branch)."""
    to = env.get("PRE_COMMIT_TO_REF")
    if not to:
        return []
    frm = env.get("PRE_COMMIT_FROM_REF") or ZERO
    branch = env.get("PRE_COMMIT_LOCAL_BRANCH") or "HEAD"
    remote = env.get("PRE_COMMIT_REMOTE_BRANCH") or branch
    return [f"{branch} {to} {remote} {frm}"]
