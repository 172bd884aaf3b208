"""What the caller asks of a run: the options, and the collaborators it chooses.

The disk guard is the caller's choice (the commands and the public API pass `ops/disk.py`'s
`DiskGuard`), passed in as pypa/build passes its runner: the run never reaches up for it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from buildorch.config import Tier
    from buildorch.edges.engine import Engine


@dataclass(frozen=True)
class BuildOptions:
    names: tuple[str, ...] = ()
    force_all: bool = False
    since: str | None = None
    jobs: int | None = None
    push: bool = False
    fail_fast: bool = False
    dry_run: bool = False
    cache_to: tuple[str, ...] = ()     # replaces [cache] to (--cache-to); each one must work
    warm: bool = False                 # pull previous images first (cache warming)
    no_reuse: bool = False             # never pull a bo-<digest> image instead of building
    smoke: bool = True                 # run each built image's smoke check (--no-smoke: off)
    no_deps: bool = False              # exactly `names`, parents as they are (CI, per tier)


class DiskCare(Protocol):
    """The engine's disk during one run."""

    def check(self, tier: Tier) -> str | None:
        """Before an image of `tier` builds (from worker threads): a note of what was cleaned,
        None, or BuildorchError to fail the image with that line."""

    def emergency_cleanup(self) -> str:
        """After a cancelled run, bounded in time: one line saying what was removed."""


# Given the run's engine, the care of its disk (e.g. `DiskGuard`, whose constructor is one).
DiskCareFor = Callable[["Engine"], DiskCare]
