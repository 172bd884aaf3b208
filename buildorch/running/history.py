"""The run's lines in `.buildorch/history.jsonl`: one per image (up to date, built, reused,
failed, cancelled)."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from buildorch.config import Config
from buildorch.edges import state
from buildorch.planning.digest import Snapshot
from buildorch.running.events import Failed, Finished, Warned


def history_warning(cfg: Config, image: str, exc: OSError) -> Warned:
    """The history is a record, not the build: a failed append is said, and the run goes on."""
    return Warned(image, f"could not append to {cfg.state_dir / state.HISTORY} "
                  f"({exc.strerror or exc}); stats will miss this run")


def append_up_to_date(cfg: Config, snap: Snapshot, names: Iterable[str],
                      now: float) -> None:
    """One line per image the plan found up to date, in one write. Raises OSError."""
    state.append_history(cfg.state_dir, *(
        {"image": n, "tier": cfg.images[n].tier, "digest": snap.records[n].digest,
         "start": now, "duration_s": 0.0, "steps": 0, "cached_steps": 0,
         "result": "up-to-date"} for n in names))


class ImageLines:
    """The history line of each image being built: opened when its build starts, filled in
    as it goes, appended when its Finished or Failed event ends it (worker threads)."""

    # A plain class: this module is on a no-change run's path, where a dataclass costs more.
    def __init__(self, cfg: Config, snap: Snapshot) -> None:
        self.cfg = cfg
        self.snap = snap
        self.lock = threading.Lock()
        self.entries: dict[str, dict[str, object]] = {}

    def open(self, name: str, tier: str, digest: str, start: float) -> dict[str, object]:
        entry: dict[str, object] = {"image": name, "tier": tier, "digest": digest,
                                    "start": start}
        with self.lock:
            self.entries[name] = entry
        return entry

    def close(self, e: Finished | Failed) -> Warned | None:
        """Append the line `e` ends; a warning (for the run's sink) if it could not be."""
        with self.lock:
            entry = self.entries.pop(e.image, None)
        if entry is None:   # e.g. the scheduler's Failed for a build function that raised
            image = self.cfg.images.get(e.image)
            record = self.snap.records.get(e.image)
            entry = {"image": e.image, "tier": image.tier if image else "",
                     "digest": record.digest if record else "",
                     "start": round(e.time - e.duration_s, 3)}
        entry.setdefault("duration_s", round(e.duration_s, 3))
        if isinstance(e, Finished):
            entry.setdefault("steps", e.steps)
            entry.setdefault("cached_steps", e.cached_steps)
            entry["result"] = "reused" if e.reused else "built"
        else:
            entry["result"] = "cancelled" if e.cause == "cancelled" else "failed"
            entry["reason"] = e.reason
            if e.cause == "engine":
                entry["cause"] = "engine"
        try:
            state.append_history(self.cfg.state_dir, entry)
        except OSError as exc:
            return history_warning(self.cfg, e.image, exc)
        return None
