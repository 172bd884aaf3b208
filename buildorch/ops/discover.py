"""What `buildorch init` finds in a repository: images, names, registry, contexts, tiers.

Every Dockerfile the repository tracks, every compose service and bake target that builds one.
Names come from the compose service (or its image), the bake target, else the Dockerfile's
own name (`Dockerfile.python-ml`, `python-ml.Dockerfile`, `images/python-ml/Dockerfile`). The
registry is the prefix that the FROM lines (through ARG defaults, expanded by the Dockerfile
analysis) and the compose/bake image names give the images built here, so that each such FROM
links to its Dockerfile. A context is compose's or bake's, else the folder from which the
Dockerfile's COPY/ADD sources resolve. Tiers follow depth. Nothing here does I/O: files are
listed and read by the caller.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from buildorch.config import seed_policy, tier_rank
from buildorch.dockerlang.reference import normalize, repository_of
from buildorch.errors import BuildorchError
from buildorch.planning.dockerfiles import (
    TEST_DIRS,
    VENDORED,
    conventional_name,
    is_dockerfile,
    looks_test_only,
    normal_name,
)
from buildorch.planning.links import Known, Resolver

_GLOB = re.compile(r"[*?\[\\]")


@dataclass(frozen=True)
class Entry:
    """What init knows of one image it places (paths root-relative, posix)."""

    dockerfile: str
    name: str = ""
    name_from: str = ""
    context: str = ""
    context_from: str = ""
    target: str | None = None
    args: tuple[tuple[str, str], ...] = ()
    images: tuple[str, ...] = ()          # compose image / bake tags
    depends_on: tuple[str, ...] = ()
    contexts: tuple[tuple[str, str], ...] = ()   # as services.toml takes them (root-relative)
    external: tuple[str, ...] = ()        # the images its FROM lines name, resolved
    sources: tuple[str, ...] = ()         # its COPY/ADD sources, relative to a context
    parents: tuple[str, ...] = ()
    parent_refs: tuple[str, ...] = ()
    tier: str = "services"
    origin: str = ""                      # the compose/bake file it came from, '' if none
    kind: str = ""                        # "compose" | "bake" | '' (a Dockerfile by its name)
    base_why: str = ""                    # why a base though nothing here builds FROM it
    labels: tuple[tuple[str, str], ...] = ()
    platform: str | None = None
    tags: tuple[str, ...] = ()            # its own references, when not {registry}/{name}:{tag}


# A Dockerfile kept in a base table even when nothing here builds FROM it yet: it sits in a
# folder of base images, or its `Dockerfile.<name>` has a word that parents have.
BASE_DIRS = frozenset({"base", "bases", "base-images", "base_images", "baseimages"})
PARENT_WORDS = frozenset({"base", "common", "core", "foundation", "runtime", "builder",
                          "toolchain", "sdk", "buildpack"})


def base_like(dockerfile: str, name: str) -> str:
    """Why this Dockerfile is a base image by its place or name ('' when it is not)."""
    parts = dockerfile.split("/")
    folder = next((d for d in parts[:-1] if d.lower() in BASE_DIRS), None)
    if folder:
        return f"under a {folder}/ folder"
    if parts[-1].lower().startswith(("dockerfile.", "containerfile.")) and \
            PARENT_WORDS.intersection(re.split(r"[._-]", name)):
        return f"{parts[-1]}: a parent's name"
    return ""


@dataclass(frozen=True)
class Unplaced:
    dockerfile: str
    reason: str
    name: str = ""
    context: str = ""


@dataclass(frozen=True)
class Discovery:
    registry: str | None
    tag: str
    entries: tuple[Entry, ...]
    unplaced: tuple[Unplaced, ...]
    notes: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Build:
    """A compose service or bake target, with root-relative paths (see ops.compose)."""

    kind: str
    origin: str
    key: str
    context: str
    dockerfile: str
    target: str | None = None
    args: tuple[tuple[str, str], ...] = ()
    images: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    unplaced: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    platform: str | None = None
    contexts: tuple[tuple[str, str], ...] = ()   # "target:KEY" names a bake target/service


def _prefix(ref: str) -> tuple[str | None, str, str]:
    """`ghcr.io/acme/base:1.0` -> ("ghcr.io/acme", "base", "1.0")."""
    repo = repository_of(ref)
    rest = ref.split("@", 1)[0]
    tag = rest[len(rest.rsplit(":", 1)[0]) + 1:] if rest.rfind(":") > rest.rfind("/") else ""
    prefix, _, last = repo.rpartition("/")
    return prefix or None, last, tag or "latest"


# --- contexts --------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Listing:
    files: frozenset[str]
    dirs: frozenset[str]

    @classmethod
    def of(cls, paths: Sequence[str]) -> _Listing:
        dirs = {"."}
        for p in paths:
            d = p.rpartition("/")[0]
            while d and d not in dirs:
                dirs.add(d)
                d = d.rpartition("/")[0]
        return cls(frozenset(paths), frozenset(dirs))

    def resolves(self, context: str, pattern: str) -> bool:
        """Does the COPY source `pattern` name something in `context`?"""
        parts = pattern.split("/")
        literal: list[str] = []
        for p in parts:
            if _GLOB.search(p):
                break
            literal.append(p)
        base = posixpath.normpath(posixpath.join(context, *literal)) if literal else context
        if len(literal) == len(parts):
            return base in self.files or base in self.dirs
        if base not in self.dirs:
            return False
        full = posixpath.join(context, pattern) if context != "." else pattern
        prefix = "" if base == "." else base + "/"
        return any(fnmatch.fnmatchcase(f, full) or fnmatch.fnmatchcase(f, full + "/*")
                   for f in self.files if f.startswith(prefix))


def infer_context(dockerfile: str, sources: Sequence[str], listing: _Listing
                  ) -> tuple[str, str]:
    """The folder, from the Dockerfile's own up to the root, where most of its COPY/ADD
    sources resolve (the deepest on a tie), and why."""
    folder = dockerfile.rpartition("/")[0] or "."
    real = [s for s in sources if s != "."]
    if not real:
        return folder, ("no COPY/ADD names a path: its own folder" if folder != "." else
                        "the repository root")
    candidates = [folder]
    while candidates[-1] != ".":
        candidates.append(candidates[-1].rpartition("/")[0] or ".")
    scored = [(sum(listing.resolves(c, s) for s in real), c) for c in candidates]
    best = max(score for score, _ in scored)
    chosen = next(c for score, c in scored if score == best)
    shown = ", ".join(real[:2]) + (", …" if len(real) > 2 else "")
    where = "the repository root" if chosen == "." else (
        "beside the Dockerfile" if chosen == folder else chosen + "/")
    if best == 0:
        return folder, f"its COPY sources ({shown}) resolve nowhere: its own folder"
    some = "" if best == len(real) else f" ({best} of {len(real)})"
    return chosen, f"COPY {shown} resolve{'s' if len(real) == 1 else ''}{some} from {where}"


# --- the discovery ---------------------------------------------------------------------------

Analyze = Callable[[str, Mapping[str, str], str | None], tuple[tuple[str, ...], tuple[str, ...]]]


def discover(paths: Sequence[str], builds: Sequence[Build], *, read: Callable[[str], str | None],
             analyze: Analyze, root_name: str, only: Sequence[str] | None = None,
             only_label: str = "") -> Discovery:
    """Place every Dockerfile in `paths` and every compose/bake build.

    `analyze(text, args, target)` returns (FROM images, COPY/ADD sources) or raises
    BuildorchError; `only`: origins (compose files) whose images and their ancestors are
    placed, everything else left unplaced with the reason (`init --from-compose`).
    """
    listing = _Listing.of(paths)
    notes: list[str] = []
    unplaced: list[Unplaced] = []
    candidates: list[Entry] = []
    claimed: set[tuple[str, str | None, tuple[tuple[str, str], ...]]] = set()
    again: dict[str, list[str]] = {}   # origin -> entries building what another one builds
    collide = _colliding_bake_names(builds, root_name)
    # (file, bake target / compose service) -> the image name it got: what `target:KEY` names
    by_key: dict[tuple[str, str], str] = {}
    for b in builds:
        where = f"{b.origin}: {'services.' if b.kind == 'compose' else 'target '}{b.key}"
        if b.unplaced:
            unplaced.append(Unplaced(b.dockerfile, f"{where}: {b.unplaced}"))
            continue
        if (b.dockerfile, b.target, b.args) in claimed:
            again.setdefault(b.origin, []).append(b.key)
            continue
        claimed.add((b.dockerfile, b.target, b.args))
        image_name = _prefix(b.images[0])[1] if b.images and b.kind == "compose" else None
        name = normal_name(image_name or b.key)
        kind = "compose service" if b.kind == "compose" else "bake target"
        how = (f"the image of {kind} {b.key} ({b.origin})" if image_name else
               f"{kind} {b.key} ({b.origin})")
        if b.kind == "bake" and (b.origin, b.key) in collide:
            name, how = collide[(b.origin, b.key)]
        if name is None:
            unplaced.append(Unplaced(b.dockerfile, f"{where}: no valid image name in "
                                     f"{b.key!r}"))
            continue
        by_key[(b.origin, b.key)] = name
        candidates.append(Entry(b.dockerfile, name, how, b.context,
                                f"{kind}'s context", b.target, b.args, b.images,
                                b.depends_on, b.contexts, origin=b.origin, kind=b.kind,
                                labels=b.labels, platform=b.platform))
    for origin, keys in again.items():   # one line per file (a test file that `extends`)
        what = "services" if any(b.kind == "compose" and b.origin == origin
                                 for b in builds) else "targets"
        notes.append(f"{origin}: {what} {', '.join(keys)} build the Dockerfile(s) of other "
                     "entries (compose `extends`, or a copy): one image each")
    used = {d for d, _, _ in claimed}
    for path in sorted(p for p in paths if is_dockerfile(p) and p not in used):
        why = looks_test_only(path) or ("vendored: under " + next(
            d for d in path.split("/")[:-1] if d in VENDORED)
            if VENDORED.intersection(path.split("/")[:-1]) else "")
        if why:
            name = conventional_name(path, root_name)[0] or ""
            parts = path.split("/")
            if name in TEST_DIRS and len(parts) >= 3:   # services/stt/tests/Dockerfile
                name = normal_name(f"{parts[-3]}-{name}") or name
            unplaced.append(Unplaced(path, why, name))
            continue
        name, how = conventional_name(path, root_name)
        if name is None:
            unplaced.append(Unplaced(path, "no plausible image name in its path"))
            continue
        candidates.append(Entry(path, name, f"{path} ({how})"))

    # analyse: FROM images and COPY sources, with the build's args and target
    analysed: list[Entry] = []
    for e in candidates:
        text = read(e.dockerfile)
        if text is None and e.kind == "bake":   # an abstract target others inherit from
            notes.append(f"{e.name_from}: no {e.dockerfile} here; left out")
            continue
        if text is None:
            unplaced.append(Unplaced(e.dockerfile, f"{e.name_from}: {e.dockerfile} does not "
                                     "exist", e.name, e.context))
            continue
        try:
            external, sources = analyze(text, dict(e.args), e.target)
        except BuildorchError as exc:
            unplaced.append(Unplaced(e.dockerfile, f"cannot be analysed: {exc}", e.name,
                                     e.context))
            continue
        analysed.append(replace(e, external=external, sources=sources))

    # names: first come keeps it; a later one takes its folder's name in front
    entries: list[Entry] = []
    taken: dict[str, Entry] = {}
    for e in analysed:
        name = e.name
        if name in taken:
            folder = e.dockerfile.rpartition("/")[0].rsplit("/", 1)[-1]
            alt = normal_name(f"{folder}-{name}") if folder else None
            if alt is None or alt in taken:
                unplaced.append(Unplaced(e.dockerfile, f"the name {name!r} is taken by "
                                         f"{taken[name].dockerfile}", name))
                continue
            e = replace(e, name=alt, name_from=f"{e.name_from}, with its folder in front "
                        f"({name!r} is {taken[name].dockerfile})")
        taken[e.name] = e
        entries.append(e)

    registry, tag = _registry(entries, notes)
    entries = [replace(e, tags=_own_tags(e, registry, tag)) for e in entries]
    resolver = Resolver(Known(e.name, e.tags or (_default_ref(e.name, registry, tag),),
                              bool(e.tags)) for e in entries)
    linked: list[Entry] = []
    for e in entries:
        parents: list[str] = []
        refs: list[str] = []
        for ref in e.external:
            link = resolver.resolve(ref, e.name)
            if link and link.parent not in parents:
                parents.append(link.parent)
                refs.append(ref)
            elif link is None and _prefix(ref)[1] in taken and _prefix(ref)[1] != e.name:
                notes.append(f"{e.name}: FROM {ref} names {_prefix(ref)[1]} under another "
                             f"registry than {registry or 'none'}: not linked")
        deps = tuple(d for d in e.depends_on if d in taken and d not in parents)
        contexts = []
        for cname, value in e.contexts:   # a target:KEY names the image KEY builds
            if value.startswith("target:"):
                image = by_key.get((e.origin, value[len("target:"):]))
                if image is None or image not in taken or image == e.name:
                    notes.append(f"{e.name}: context {cname} = {value} names no other image "
                                 "placed here: left out")
                    continue
                value = f"target:{image}"
            contexts.append((cname, value))
        context, context_from = e.context, e.context_from
        if not context:
            context, context_from = infer_context(e.dockerfile, e.sources, listing)
        linked.append(replace(e, parents=tuple(parents), parent_refs=tuple(refs),
                              depends_on=deps, context=context, context_from=context_from,
                              contexts=tuple(contexts)))

    if only is not None:
        linked, left = _only(linked, set(only), only_label or ", ".join(only))
        unplaced += left
    # a `target:` context is a parent: built first, in a lower tier
    after = {e.name: (*e.parents, *e.depends_on,
                      *(v[len("target:"):] for _, v in e.contexts if v.startswith("target:")))
             for e in linked}
    has_children = {p for ps in after.values() for p in ps}
    linked = [e if e.name in has_children else replace(e, base_why=base_like(e.dockerfile,
                                                                             e.name))
              for e in linked]
    tiers = _tiers(after, {e.name for e in linked if e.base_why})
    placed = tuple(replace(e, tier=tiers[e.name]) for e in linked)
    return Discovery(registry, tag, placed, tuple(unplaced), tuple(notes))


def _default_ref(name: str, registry: str | None, tag: str) -> str:
    return f"{registry}/{name}:{tag}" if registry else f"{name}:{tag}"


def _own_tags(e: Entry, registry: str | None, tag: str) -> tuple[str, ...]:
    """A bake target's tags, unless they are just the project's reference for it."""
    if e.kind != "bake" or not e.images:
        return ()
    mine = {normalize(r) or r for r in e.images}
    return () if mine == {normalize(_default_ref(e.name, registry, tag))} else e.images


def _colliding_bake_names(builds: Sequence[Build], root_name: str
                          ) -> dict[tuple[str, str], tuple[str, str]]:
    """Bake targets of one name in several files (a file per version): each named from its
    Dockerfile (`images/base_4.1.2.Dockerfile` gives `base_4.1.2`), or, when the Dockerfile is
    shared, the target and its file's version (`base_4.1.2` from `4.1.2.docker-bake.json`)."""
    bake = [b for b in builds if b.kind == "bake" and not b.unplaced]
    keys = Counter(b.key for b in bake)
    clash = [b for b in bake if keys[b.key] > 1]
    by_file = {b: conventional_name(b.dockerfile, root_name)[0] for b in clash}
    counts = Counter(by_file.values())
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for b in clash:
        n = by_file[b]
        if n is not None and counts[n] == 1:
            out[(b.origin, b.key)] = (n, f"the name of its Dockerfile {b.dockerfile} (target "
                                         f"{b.key} of {b.origin}; {keys[b.key]} bake files "
                                         f"define {b.key})")
            continue
        stem = re.sub(r"(?:^|[.-])docker-bake(?:[.-].*)?$", "",
                      b.origin.rsplit("/", 1)[-1].rsplit(" + ", 1)[0])
        alt = normal_name(f"{b.key}_{stem}") if stem else None
        if alt:
            out[(b.origin, b.key)] = (alt, f"target {b.key} and its bake file {b.origin}")
    return out


def _registry(entries: Sequence[Entry], notes: list[str]) -> tuple[str | None, str]:
    """The prefix (and tag) that FROM lines and image names give the images built here."""
    names = {e.name for e in entries}
    votes: Counter[str | None] = Counter()
    tags: Counter[str] = Counter()
    for e in entries:
        for ref in (*e.external, *e.images):
            prefix, last, tag = _prefix(ref)
            if last in names:
                votes[prefix] += 1
                tags[tag] += 1
    if not votes:
        return None, "latest"
    registry = votes.most_common(1)[0][0]
    others = sorted(str(p) for p in votes if p != registry)
    if others:
        notes.append(f"images built here are named under {registry or 'no registry'} by most "
                     f"references, also under {', '.join(others)}; services.toml has one")
    return registry, tags.most_common(1)[0][0]


def _only(entries: list[Entry], origins: set[str], label: str
          ) -> tuple[list[Entry], list[Unplaced]]:
    by_name = {e.name: e for e in entries}
    keep: set[str] = set()
    todo = [e.name for e in entries if e.origin in origins]
    while todo:
        n = todo.pop()
        if n not in keep:
            keep.add(n)
            todo.extend((*by_name[n].parents, *by_name[n].depends_on,
                         *(v[len("target:"):] for _, v in by_name[n].contexts
                           if v.startswith("target:"))))
    return ([e for e in entries if e.name in keep],
            [Unplaced(e.dockerfile, f"not built FROM by {label}'s images (plain `buildorch "
                      "init` places it)", e.name, e.context)
             for e in entries if e.name not in keep])


def _tiers(parents: Mapping[str, Sequence[str]], bases: frozenset[str] | set[str] = frozenset()
           ) -> dict[str, str]:
    """foundation: roots others build FROM; tier-N: N levels down with children; services:
    what nothing builds FROM, but for `bases` (a base by its place or name)."""
    depth: dict[str, int] = {}

    def walk(n: str, trail: tuple[str, ...]) -> int:
        if n in trail:
            raise BuildorchError("FROM lines form a cycle: " + " -> ".join((*trail, n))
                                 + "; fix the Dockerfiles")
        if n not in depth:
            depth[n] = 1 + max((walk(p, (*trail, n)) for p in parents[n] if p in parents),
                               default=-1)
        return depth[n]

    has_children = {p for ps in parents.values() for p in ps}
    out = {}
    for n in parents:
        d = walk(n, ())
        out[n] = "services" if n not in has_children and n not in bases else (
            "foundation" if d == 0 else f"tier-{d}")
    return out


# --- the file ----------------------------------------------------------------------------------

def _comment(e: Entry) -> str:
    if e.parents:
        parents = "parents " + ", ".join(f"{p} (FROM {r})" for p, r in
                                         zip(e.parents, e.parent_refs, strict=True))
    else:
        shown = ", ".join(e.external[:2]) or "scratch"
        parents = f"no parent built here (FROM {shown})"
    if e.depends_on:
        parents += "; depends on " + ", ".join(f"{d} (bake contexts)" for d in e.depends_on)
    if e.base_why:
        parents += f"; a base image ({e.base_why}), though nothing here builds FROM it yet"
    return f"# {e.name}: name from {e.name_from}; context {e.context} ({e.context_from}); " \
           f"{parents}"


def render(d: Discovery, *, rel: Callable[[str], str], command: str,
           sources: Sequence[str]) -> str:
    """services.toml text (TOML by tomli-w, comments around it). `rel` turns a root-relative
    path into one relative to the services.toml folder."""
    import tomli_w

    lines = [f"# Written by `{command}`: edit freely.",
             f"# Found {len(d.entries)} image(s) in {', '.join(sources) or 'no file'}.",
             "# Tiers are by depth: foundation = roots others build FROM, tier-N = N levels "
             "below, services = what nothing builds FROM.",
             "# Parents are not listed: every plan reads them from the FROM lines.", ""]
    project: dict[str, object] = {"tag": d.tag}
    if d.registry:
        project = {"registry": d.registry, **project}
    lines += [tomli_w.dumps({"project": project})]
    used = sorted({e.tier for e in d.entries}, key=tier_rank)
    for t in used:
        policy = seed_policy(t)
        lines.append(tomli_w.dumps({"tiers": {t: policy}}) if policy else f"[tiers.{t}]\n")
    for e in sorted(d.entries, key=lambda e: (tier_rank(e.tier), e.name)):
        section = "services" if e.tier == "services" else "base"
        table: dict[str, object] = {"tier": e.tier, "dockerfile": rel(e.dockerfile),
                                    "context": rel(e.context)}
        if e.target:
            table["target"] = e.target
        if e.args:
            table["args"] = dict(e.args)
        if e.platform:
            table["platform"] = e.platform
        if e.tags:
            table["tags"] = list(e.tags)
        if e.labels:
            table["labels"] = dict(e.labels)
        if e.depends_on:
            table["depends_on"] = list(e.depends_on)
        if e.contexts:
            table["contexts"] = {n: v if v.startswith(("target:", "docker-image://")) else rel(v)
                                 for n, v in e.contexts}
        lines.append(_comment(e))
        lines.append(_dump_table(section, e.name, table))
    if d.unplaced:
        lines += ["# --- Dockerfiles not placed: uncomment an entry and fix it to add it ---", ""]
        for u in sorted(d.unplaced, key=lambda u: u.dockerfile):
            lines.append(f"# {u.dockerfile}: {u.reason}")
            table = {"dockerfile": rel(u.dockerfile)}
            if u.context:
                table["context"] = rel(u.context)
            text = _dump_table("services", u.name or "NAME", table)
            lines.append("\n".join(f"# {x}" if x else "" for x in text.splitlines()) + "\n")
    return "\n".join(lines).rstrip("\n") + "\n"


def _dump_table(section: str, name: str, table: Mapping[str, object]) -> str:
    import tomli_w

    return tomli_w.dumps({section: {name: dict(table)}})


__all__ = ["Build", "Discovery", "Entry", "Unplaced", "discover", "render"]
