"""`buildorch init`: the repository's files, compose and bake files read, the discovery made
(ops/discover.py) and the services.toml text rendered."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

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
        out.append(disc.Build(e.kind, e.origin, e.key, context or ".",
                              dockerfile or str(e.dockerfile), e.target, e.args, e.images,
                              e.depends_on, unplaced, e.labels, e.platform))
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
        entries += found
        notes += more
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
    return InitResult(text, d, tuple(sources), (*notes, *d.notes))
