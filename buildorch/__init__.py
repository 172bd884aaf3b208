"""buildorch: know which images are stale and why, then build exactly those.

The public Python API is what `__all__` names; everything else is internal. Names are imported
on first use, so `import buildorch` costs nothing::

    import buildorch

    cfg = buildorch.load_config("services.toml")
    for stale in buildorch.plan(cfg).plan.stale:
        print(stale.name, "; ".join(stale.reasons))
    report = buildorch.build(cfg, buildorch.BuildOptions(jobs=2), on_event=print)
    raise SystemExit(0 if report.ok else 1)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "BuildOptions", "BuildReport", "BuildorchError", "Config", "ConfigError", "Engine", "Event",
    "Failed", "Finished", "ImageReport", "Plan", "PlanResult", "Queued", "Skipped", "Stale",
    "Started", "Step", "UpToDate", "build", "buildx_argv", "connect_engine", "load_config",
    "plan",
]

_WHERE = {
    "load_config": "buildorch.api", "plan": "buildorch.api", "build": "buildorch.api",
    "buildx_argv": "buildorch.api", "connect_engine": "buildorch.api",
    "BuildorchError": "buildorch.errors", "ConfigError": "buildorch.errors",
    "Config": "buildorch.config", "Engine": "buildorch.edges.engine",
    "Plan": "buildorch.planning.plan", "Stale": "buildorch.planning.plan",
    "PlanResult": "buildorch.planning.baseline",
    "BuildOptions": "buildorch.running.options", "BuildReport": "buildorch.running.report",
    "ImageReport": "buildorch.running.report",
    **{e: "buildorch.running.events" for e in (
        "Event", "Queued", "Started", "Step", "Finished", "Failed", "Skipped", "UpToDate")},
}

if TYPE_CHECKING:
    from buildorch.api import build, buildx_argv, connect_engine, load_config, plan
    from buildorch.config import Config
    from buildorch.edges.engine import Engine
    from buildorch.errors import BuildorchError, ConfigError
    from buildorch.planning.baseline import PlanResult
    from buildorch.planning.plan import Plan, Stale
    from buildorch.running.events import (
        Event,
        Failed,
        Finished,
        Queued,
        Skipped,
        Started,
        Step,
        UpToDate,
    )
    from buildorch.running.options import BuildOptions
    from buildorch.running.report import BuildReport, ImageReport


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'buildorch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*__all__, "__version__"])
