"""Caches, in one place: which kinds a builder uses (the plan), the `--cache-from` and
`--cache-to` arguments they become, and the housekeeping of the local cache folders
(`.buildorch/cache/IMAGE`).

The facts a plan rests on (the builder's side comes from `edges/capabilities.py`; see
docs/explanation/engines.md):

* The `docker` driver on the classic image store exports no cache but `inline` ("Cache export
  is not supported for the docker driver"); it imports registry caches.
* The `docker` driver's engine keeps its own build cache: exporting `type=local` beside it only
  writes the same layers again (measured: +70% on a 300 MB layer). Other drivers (container,
  remote, kubernetes) may be recreated, and their cache with them: there `local` pays.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from buildorch.config import Config
from buildorch.edges.capabilities import BuilderInfo
from buildorch.errors import BuildorchError


@dataclass(frozen=True)
class CachePlan:
    """Cache kinds one builder uses: sources (in order) and destinations, and why."""

    sources: tuple[str, ...]
    sinks: tuple[str, ...]
    inline_for_pushed: bool       # pushed images carry an inline cache (registry export lost)
    notes: tuple[str, ...]        # said once in a run's output
    why: tuple[str, ...] = ()     # every decision, for `buildorch doctor`


def cache_plan(configured_from: Sequence[str], configured_to: Sequence[str],
               asked_to: Sequence[str], builder: BuilderInfo, *, where: str = "") -> CachePlan:
    """`asked_to` (the command line's --cache-to) replaces the configured destinations, and
    each of them must be possible: else one BuildorchError before anything starts. Configured
    destinations the builder cannot do are dropped with a note, never a failure."""
    explicit = bool(asked_to)
    wanted = list(dict.fromkeys(asked_to if explicit else configured_to))
    sinks: list[str] = []
    notes: list[str] = []
    why: list[str] = []
    lost: list[str] = []
    for kind in wanted:
        if kind == "local" and builder.persists_cache and not explicit:
            why.append("local: not exported: the docker driver's engine build cache already is "
                       "the local cache" + (" (--cache-to local exports it anyway)"
                                            if builder.can_export(kind) else ""))
            continue
        if not builder.can_export(kind):
            if explicit:
                raise BuildorchError(
                    f"--cache-to {kind}: {builder.describe()}{where} cannot export a "
                    f"{kind} cache; use --cache-to inline, turn on the containerd image store "
                    "(daemon.json: {\"features\": {\"containerd-snapshotter\": true}}), or "
                    "give the tier a docker-container builder")
            lost.append(kind)
            continue
        sinks.append(kind)
        why.append(f"{kind}: exported" + (" (asked on the command line)" if explicit else ""))
    inline = False
    if lost:
        inline = "registry" in lost
        notes.append(
            f"{builder.describe()} cannot export caches: {', '.join(lost)} not exported; "
            "its engine's build cache serves local rebuilds, registry cache sources are still "
            "read" + (", pushed images carry an inline cache" if inline else "")
            + " (turn on the containerd image store for more)")
        why.extend(f"{k}: not exported: the docker driver on the classic image store cannot"
                   for k in lost)
    sources = list(dict.fromkeys(configured_from))
    if inline and "registry" in sources and "image" not in sources:
        sources.append("image")   # the inline cache of the image's previous push
    why.append("from: " + (", ".join(sources) or "none")
               + " (local: when its folder holds a cache; gha: inside GitHub Actions)")
    return CachePlan(tuple(sources), tuple(sinks), inline, tuple(notes), tuple(why))


def cache_args(kinds_from: Sequence[str], kinds_to: Sequence[str], *, name: str, ref: str,
               repository: str | None, local_dir: Path, in_actions: bool
               ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """--cache-from (every configured source, in order) and --cache-to (the writable ones)."""
    src: list[str] = []
    dst: list[str] = []
    for kind in kinds_from:
        if kind == "local" and (local_dir / "index.json").is_file():
            src.append(f"type=local,src={local_dir}")
        elif kind == "registry" and repository:
            src.append(f"type=registry,ref={repository}:buildcache")
        elif kind == "gha" and in_actions:
            src.append(f"type=gha,scope={name}")
        elif kind == "image":
            src.append(f"type=registry,ref={ref}")
    for kind in kinds_to:
        if kind == "local":
            dst.append(f"type=local,dest={local_dir},mode=max")
        elif kind == "registry" and repository:
            dst.append(f"type=registry,ref={repository}:buildcache,mode=max,ignore-error=true")
        elif kind == "gha" and in_actions:
            dst.append(f"type=gha,scope={name},mode=max,ignore-error=true")
        elif kind == "inline":
            dst.append("type=inline")
    return tuple(src), tuple(dst)


def local_dir(cfg: Config, name: str) -> Path:
    """The image's own local cache folder (`type=local` source and destination)."""
    return cfg.state_dir / "cache" / name


def in_github_actions() -> bool:
    """The `gha` cache works only inside a GitHub Actions job (its runtime token)."""
    return os.environ.get("GITHUB_ACTIONS") == "true" and \
        bool(os.environ.get("ACTIONS_RUNTIME_TOKEN"))


# -- the local cache folders after a build ----------------------------------------------------

def gc_local_cache(cache_dir: Path) -> int:
    """BuildKit's local cache exporter only adds blobs; keep those index.json still reaches.
    Returns the bytes freed."""
    index = cache_dir / "index.json"
    blobs = cache_dir / "blobs" / "sha256"
    if not index.is_file() or not blobs.is_dir():
        return 0
    keep: set[str] = set()

    def visit(doc: object) -> None:
        if isinstance(doc, dict):
            digest = doc.get("digest")
            if isinstance(digest, str) and digest.startswith("sha256:"):
                h = digest.split(":", 1)[1]
                if h not in keep:
                    keep.add(h)
                    media = str(doc.get("mediaType", ""))
                    if "json" in media or "manifest" in media or "index" in media:
                        with contextlib.suppress(OSError, ValueError):
                            visit(json.loads((blobs / h).read_bytes()))
            for v in doc.values():
                if isinstance(v, dict | list):
                    visit(v)
        elif isinstance(doc, list):
            for v in doc:
                visit(v)

    try:
        visit(json.loads(index.read_bytes()))
    except (OSError, ValueError):
        return 0
    freed = 0
    for blob in blobs.iterdir():
        if blob.name not in keep:
            with contextlib.suppress(OSError):
                freed += blob.stat().st_size
                blob.unlink()
    return freed


def _tree_size(path: Path) -> int:
    """Bytes under `path`. BuildKit creates and removes `ingest/` folders while exporting, so
    entries vanish under the walk: os.walk skips folders it cannot list, lstat is guarded."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_size
    return total


SIZES = "sizes.json"    # in the cache root: image -> bytes of its local cache, when last written
NEAR_CAP = 0.9


def trim_local_caches(cache_root: Path, max_bytes: int, keep: str) -> list[str]:
    """Keep all images' local caches under `max_bytes` ([cache] local_max_size): drop whole
    per-image caches, least recently written first, never `keep` (just written). Returns the
    names dropped.

    Only `keep`'s own cache is measured after each build (nobody else writes it now); the
    others' sizes come from `sizes.json`, so the walk over every image's cache (which other
    builds are writing) runs only when the total is near the cap. Vanishing entries are
    tolerated everywhere."""
    if max_bytes <= 0 or not cache_root.is_dir():
        return []
    sizes_path = cache_root / SIZES
    try:
        known = json.loads(sizes_path.read_text())
        sizes = {str(k): int(v) for k, v in known.items()} if isinstance(known, dict) else {}
    except (OSError, ValueError, TypeError, AttributeError):
        sizes = {}
    sizes[keep] = _tree_size(cache_root / keep)
    dirs: dict[str, Path] = {}
    with contextlib.suppress(OSError):
        dirs = {d.name: d for d in cache_root.iterdir() if d.is_dir()}
    sizes = {n: v for n, v in sizes.items() if n in dirs}
    dropped: list[str] = []
    if sum(sizes.values()) >= NEAR_CAP * max_bytes or any(n not in sizes for n in dirs):
        for n, d in dirs.items():
            if n != keep:
                sizes[n] = _tree_size(d)
        total = sum(sizes.values())

        def mtime(d: Path) -> float:
            try:
                return d.stat().st_mtime
            except OSError:
                return 0.0

        for d in sorted(dirs.values(), key=mtime):
            if total <= max_bytes:
                break
            if d.name == keep:
                continue
            shutil.rmtree(d, ignore_errors=True)
            total -= sizes.pop(d.name, 0)
            dropped.append(d.name)
    with contextlib.suppress(OSError):
        sizes_path.write_text(json.dumps(sizes, sort_keys=True))
    return dropped


def tidy_local(cfg: Config, name: str, trim_lock: threading.Lock) -> None:
    """After a good build of `name`: its local cache without the blobs nothing reaches, and
    every image's local cache under [cache] local_max_size together."""
    gc_local_cache(local_dir(cfg, name))
    with trim_lock:   # one trimmer at a time: they walk the same folders
        trim_local_caches(cfg.state_dir / "cache", cfg.local_cache_max, keep=name)
