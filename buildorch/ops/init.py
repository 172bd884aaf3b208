"""`buildorch init`: the repository's files, compose and bake files read, the discovery made
(ops/discover.py) and the services.toml text rendered."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from buildorch.edges import git as gitdoor
from buildorch.edges.git import repository_files
from buildorch.errors import BuildorchError
from buildorch.ops import bake, compose
from buildorch.ops import discover as disc
from buildorch.planning.dockerfiles import is_dockerfile


@dataclass(frozen=True)
class InitResult:
    text: str
    discovery: disc.Discovery
    sources: tuple[str, ...]
    notes: tuple[str, ...]


def _analyze(text: str, args: Mapping[str, str], target: str | None
             ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    from buildorch.dockerlang.analysis import analyze

    a = analyze(text, args, target)
    return a.external_images, tuple(s.pattern for s in a.context_sources)


def _relative(root: Path, path: Path) -> str | None:
    try:
        rel = path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None
    return rel or "."


def _builds(root: Path, entries: Sequence[compose.BuildEntry]) -> list[disc.Build]:
    out = []
    for e in entries:
        context, dockerfile = _relative(root, e.context), _relative(root, e.dockerfile)
        unplaced = e.unplaced
        if not unplaced and (context is None or dockerfile is None):
            unplaced = f"its context or Dockerfile is outside the repository {root}"
        contexts = []
        for name, value in e.contexts:   # folders root-relative; one outside is left out
            if value.startswith(("target:", "docker-image://")):
                contexts.append((name, value))
            elif (folder := _relative(root, Path(value))) is not None:
                contexts.append((name, folder))
        out.append(disc.Build(e.kind, e.origin, e.key, context or ".",
                              dockerfile or str(e.dockerfile), e.target, e.args, e.images,
                              e.depends_on, unplaced, e.labels, e.platform,
                              tuple(contexts)))
    return out


def state_ignore_note(root: Path, state_dir: Path) -> str | None:
    """Said by init only when git would not ignore the state folder: buildorch writes
    `.buildorch/.gitignore` (`*`) on first use, and a nested .gitignore outranks every rule of
    the repository's own, so only files git tracks there, or a `.buildorch/.gitignore` the user
    wrote that does not ignore them, keep the state in commits."""
    if not (root / ".git").exists():
        return None
    rel = _relative(root, state_dir)
    if rel is None:
        return None
    tracked = gitdoor.run(root, "ls-files", "-z", "--", rel, check=False).split(b"\0")
    tracked = [t for t in tracked if t and not t.endswith(b"/.gitignore")]
    if tracked:
        return (f"git tracks {len(tracked)} file(s) under {rel}/, where buildorch keeps its "
                f"local state: `git rm -r --cached {rel}` (and commit) so that git ignores "
                "them")
    own = state_dir / ".gitignore"
    if own.exists() and not gitdoor.succeeds(root, "check-ignore", "-q", "--no-index", "--",
                                             f"{rel}/manifest.json"):
        return (f"{rel}/.gitignore does not ignore {rel}/manifest.json: its state would be "
                "committed; make that file `*` (or delete it: buildorch writes it)")
    return None


def _new_facts(earlier: Sequence[compose.BuildEntry], found: Sequence[compose.BuildEntry],
               notes: Sequence[str]) -> list[str]:
    """The notes of a compose file but those about a build an earlier file has already had
    its notes on (a test file that `extends` the main one builds the same images): one note
    per fact."""
    seen = {(e.dockerfile, e.target, e.args) for e in earlier}
    again = tuple(f"{e.origin}: services.{e.key}:" for e in found
                  if (e.dockerfile, e.target, e.args) in seen)
    kept = [n for n in notes if not n.startswith(again)] if again else list(notes)
    return one_line_per_fact(kept)


_PER_SERVICE = re.compile(r"(?P<origin>.+?): services\.(?P<key>[^:\s]+): (?P<fact>.+)")


def one_line_per_fact(notes: Sequence[str]) -> list[str]:
    """`f: services.a: X` and `f: services.b: X` said once, as `f: services a, b: X`."""
    groups: dict[tuple[str, str], list[str]] = {}
    order: list[str | tuple[str, str]] = []
    for n in notes:
        m = _PER_SERVICE.fullmatch(n)
        if m is None:
            order.append(n)
            continue
        k = (m["origin"], m["fact"])
        if k not in groups:
            groups[k] = []
            order.append(k)
        groups[k].append(m["key"])
    out = []
    for item in order:
        if isinstance(item, str):
            out.append(item)
        elif len(keys := groups[item]) == 1:
            out.append(f"{item[0]}: services.{keys[0]}: {item[1]}")
        else:
            out.append(f"{item[0]}: services {', '.join(sorted(keys))}: {item[1]}")
    return out


def init_repository(root: Path, output: Path, compose_files: Sequence[Path],
                    environ: Mapping[str, str], bake_dir: Path | None = None) -> InitResult:
    """`bake_dir`: where `docker buildx bake` is run (bake resolves contexts from there);
    default the repository root."""
    paths = repository_files(root)
    notes: list[str] = []
    sources: list[str] = []
    entries: list[compose.BuildEntry] = []
    if compose_files:
        for f in compose_files:
            if not f.is_file():
                raise BuildorchError(f"--from-compose {f}: not a file; pass the compose file's "
                                     "path (relative to the current folder)")
        groups = [list(compose_files)]
    else:
        groups = [[root / p for p in g] for g in compose.projects(paths)]
    for group in groups:
        try:
            found, more = compose.read(group, environ)
        except BuildorchError as exc:
            if compose_files:
                raise
            notes.append(f"{exc} (its Dockerfiles are found by name)")
            continue
        notes += _new_facts(entries, found, more)
        entries += found
        sources.append(" + ".join(os.path.relpath(f, root) for f in group))
    if not compose_files:
        cwd = (bake_dir or root).resolve()
        groups_read = 0
        for names in bake.bake_groups(paths):
            found, more = bake.read([root / p for p in names], cwd)
            entries += found
            notes += more
            groups_read += bool(found)
        if groups_read:   # bake resolves contexts from where it runs: say where that was
            where = "the repository root" if cwd == root.resolve() else \
                os.path.relpath(cwd, root) + "/"
            sources.append(f"{groups_read} bake file(s) (each as `docker buildx bake -f FILE` "
                           f"run from {where})")
    builds = _builds(root, entries)
    origins = {b.origin for b in builds} if compose_files else None

    def read(rel: str) -> str | None:
        try:
            return (root / rel).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    d = disc.discover(paths, builds, read=read, analyze=_analyze, root_name=root.name,
                      only=sorted(origins) if origins is not None else None,
                      only_label=" + ".join(os.path.relpath(f, root) for f in compose_files))
    n_dockerfiles = len([p for p in paths if is_dockerfile(p)])
    sources.insert(0, f"{n_dockerfiles} Dockerfile(s)")
    out_dir = output.parent

    def rel(path: str) -> str:
        return Path(os.path.relpath(root / path, out_dir)).as_posix()

    flags = " ".join(f"--from-compose {os.path.relpath(f)}" for f in compose_files)
    text = disc.render(d, rel=rel, command=f"buildorch init {flags}".rstrip(), sources=sources)
    state_note = state_ignore_note(root, output.parent / ".buildorch")
    if state_note:
        notes.append(state_note)
    return InitResult(text, d, tuple(sources), (*notes, *d.notes))
