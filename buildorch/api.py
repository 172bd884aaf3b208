"""The public Python API, re-exported by `buildorch` (see its `__all__`).

Composition only: the core (config, planning) and the edges (git, engine, state) are joined
here the same way the command line joins them. The engine edge can be passed in (as pypa/build's
`ProjectBuilder(runner=...)` takes its runner), so a caller decides which engine a build talks to.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from buildorch.config import Config
    from buildorch.edges.engine import Engine
    from buildorch.planning.baseline import PlanResult
    from buildorch.running.events import Event
    from buildorch.running.options import BuildOptions
    from buildorch.running.report import BuildReport


def load_config(path: str | Path | None = None) -> Config:
    """services.toml at `path` (a file), or the one found upwards from the current directory.
    Raises ConfigError listing every problem."""
    from buildorch.planning.baseline import open_config

    return open_config(Path(path) if path is not None else None)


def plan(config: Config, *, since: str | None = None, images: Iterable[str] = (),
         all_images: bool = False, engine: Engine | None = None) -> PlanResult:
    """What is stale and why: against the manifest of the last good build, or against git
    `since` a ref. `images` narrows it to those and their ancestry; `engine` adds "missing
    from the engine" and "replaced under its tag" (no engine is needed without it)."""
    from buildorch.planning import baseline

    held = engine.images_of(config) if engine is not None else None
    return baseline.plan(config, since=since, selected=images, force_all=all_images, engine=held)


def build(config: Config, options: BuildOptions | None = None, *,
          on_event: Callable[[Event], None] | None = None, engine: Engine | None = None,
          cancel: threading.Event | None = None) -> BuildReport:
    """Build the stale images in dependency order, in parallel, each tier behind the disk
    guard (its `min_free` and `cleanup`), as the command line does. Every event goes to
    `on_event` as it happens; setting `cancel` stops the run cleanly (then the emergency
    cleanup runs). Returns the run's report."""
    from buildorch.ops.disk import DiskGuard
    from buildorch.running.build import build as run
    from buildorch.running.options import BuildOptions

    return run(config, options or BuildOptions(), on_event or _ignore, cancel=cancel,
               disk=DiskGuard, engine=engine)


def buildx_argv(config: Config, image: str) -> list[str]:
    """The `docker buildx build` command buildorch runs for `image` as the tree is now."""
    from buildorch.planning.baseline import work_snapshot
    from buildorch.running.options import BuildOptions
    from buildorch.running.spec import argv, spec_for

    snap = work_snapshot(config)
    return argv(spec_for(config, image, snap.records[image], BuildOptions()))


def connect_engine(timeout: float = 10.0) -> Engine:
    """The engine the docker CLI would use here (--context, DOCKER_HOST, DOCKER_CONTEXT, the
    current context, else the default socket); BuildorchError if none answers."""
    from buildorch.edges.engine import Engine

    return Engine.connect(timeout)


def _ignore(event: Event) -> None:
    pass
