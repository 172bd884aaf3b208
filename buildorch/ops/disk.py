"""Disk guard and cleanup tiers (seed: "Disk Space Management").

Free space is measured where the engine keeps its data. Cleanup policies grow from `basic` to
`conservative`; none of them ever removes a tagged image, an image a container uses, a
protected volume (the shared pip cache), a container, or an image buildorch did not build.

Each policy's reach (docs/how-to/disk.md):
  basic / emergency  dangling images carrying buildorch's label (old builds of its images)
  standard           + BuildKit's build cache beyond a keep size (engine-wide: BuildKit's
                     records have no owner)
  conservative       + unused anonymous volumes (engine-wide)
No policy removes containers: buildorch makes none that outlive it, and a stopped container
can hold someone's only copy of some state.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from buildorch.config import Tier
from buildorch.config_keys import CLEAN_POLICIES
from buildorch.edges.engine import LABEL_NAME, Engine
from buildorch.errors import BuildorchError
from buildorch.units import format_size

POLICIES = CLEAN_POLICIES
PROTECT_LABEL = "org.buildorch.protect"
PIP_CACHE_VOLUME = "pip-cache"
ANONYMOUS_LABEL = "com.docker.volume.anonymous"  # what `docker volume prune` removes by default
KEEP_BUILD_CACHE = 5 * 10**9                     # standard keeps this much build cache
EMERGENCY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class CleanupResult:
    freed_bytes: int
    actions: list[str] = field(default_factory=list)
    dry_run: bool = False

    def summary(self) -> str:
        verb = "would free" if self.dry_run else "freed"
        what = "; ".join(self.actions) if self.actions else "nothing to remove"
        return f"{verb} {format_size(self.freed_bytes)} ({what})"


# -- where the engine keeps its data ----------------------------------------------------------

def data_root_here(engine: Engine, info: dict[str, Any]) -> bool:
    """Is the engine's data root on this machine? Only for a local socket whose engine runs on
    this host: Docker Desktop, OrbStack, Colima and Rancher Desktop give a local socket to an
    engine in a VM (its Name is the VM's, e.g. docker-desktop, colima), whose data root may
    even exist here as another engine's (Docker Desktop for Linux beside docker-ce)."""
    root = str(info.get("DockerRootDir") or "")
    return (engine.endpoint.local_socket is not None and bool(root) and os.path.isdir(root)
            and str(info.get("Name", "")) == socket.gethostname()
            and "Docker Desktop" not in str(info.get("OperatingSystem", "")))


def free_bytes(engine: Engine) -> tuple[int, str]:
    """Free bytes in the engine's data root and where that was measured. A remote engine does
    not report free space through its API: there it is measured inside a throwaway container
    (its root filesystem lives in the data root), and the note says so."""
    info = engine.client.info()
    root = str(info.get("DockerRootDir") or "/var/lib/docker")
    if data_root_here(engine, info):
        st = os.statvfs(root)
        return st.f_bavail * st.f_frsize, root
    out = _df_in_container(engine)
    if out is None:
        raise BuildorchError(f"cannot measure free space of the engine at {engine.where} "
                             f"(its data root {root} is not on this machine and busybox:1.36 "
                             "is not there to measure it): pull busybox:1.36 or set min_free = 0")
    return out, f"{root} inside the engine, not on this machine (measured in a container)"


def _df_in_container(engine: Engine) -> int | None:
    try:
        raw = engine.client.containers.run("busybox:1.36", ["df", "-k", "/"], remove=True,
                                           network_disabled=True)
        fields = bytes(raw).decode().splitlines()[-1].split()
        return int(fields[3]) * 1024
    except Exception:  # image missing, engine refusing: the caller says what to do
        return None


def engine_df(engine: Engine, tries: int = 4) -> dict[str, Any]:
    """The engine's disk usage report. On the containerd image store it fails now and then
    while another client deletes an image ("content digest ...: not found"): ask again."""
    import docker.errors

    for attempt in range(tries):
        try:
            return dict(engine.client.df())
        except docker.errors.APIError as exc:
            if attempt == tries - 1:
                raise BuildorchError(f"the engine could not report its disk usage: "
                                     f"{exc.explanation or exc}; try again") from None
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


# -- cleanup ----------------------------------------------------------------------------------

OWN_LABEL = LABEL_NAME    # on every image buildorch builds: what its cleanup may remove


def _filters(base: Mapping[str, object], label: str | None, own: bool = False
             ) -> dict[str, object]:
    """`own`: only things carrying buildorch's label (and `label` too, when given)."""
    f = dict(base)
    labels = ([OWN_LABEL] if own else []) + ([label] if label else [])
    if labels:
        f["label"] = labels
    return f


def _protected(vol: Mapping[str, Any]) -> bool:
    labels = vol.get("Labels") or {}
    return vol.get("Name") == PIP_CACHE_VOLUME or str(labels.get(PROTECT_LABEL, "")).lower() \
        in ("true", "1", "yes")


def _dangling_images(engine: Engine, label: str | None) -> list[dict[str, Any]]:
    imgs = engine.client.api.images(filters=_filters({"dangling": True}, label, own=True))
    return [i for i in imgs if not [t for t in (i.get("RepoTags") or []) if t != "<none>:<none>"]]


def _unused_volumes(engine: Engine, label: str | None) -> list[dict[str, Any]]:
    res = engine.client.api.volumes(filters=_filters({"dangling": True}, label))
    vols: list[dict[str, Any]] = (res or {}).get("Volumes") or []
    return [v for v in vols if ANONYMOUS_LABEL in (v.get("Labels") or {}) and not _protected(v)]


def _basic(engine: Engine, dry_run: bool, label: str | None, acts: list[str]) -> int:
    """Dangling images buildorch built (its label), nothing else: one by one, never a prune
    (a prune filter is one request; a list is what we checked)."""
    freed = 0
    imgs = _dangling_images(engine, label)
    size = sum(int(i.get("Size") or 0) for i in imgs)
    if dry_run:
        freed += size
        if imgs:
            acts.append(f"{len(imgs)} dangling image(s) of buildorch ({format_size(size)}): "
                        + ", ".join(str(i["Id"]).split(":")[-1][:12] for i in imgs[:5]))
        return freed
    removed = 0
    for i in imgs:
        try:
            engine.client.api.remove_image(str(i["Id"]), noprune=False)
            removed += 1
            freed += int(i.get("Size") or 0)
        except Exception:  # in use since listed, or already gone: leave it
            continue
    if removed:
        acts.append(f"{removed} dangling image(s) of buildorch")
    return freed


def _standard(engine: Engine, dry_run: bool, label: str | None, acts: list[str],
              keep: int) -> int:
    if label:
        # Build cache records carry no labels: a scoped clean must not touch anyone's cache.
        acts.append("build cache left alone: scoped by label")
        return 0
    records = engine_df(engine).get("BuildCache") or []
    total = sum(int(r.get("Size") or 0) for r in records)
    idle = sum(int(r.get("Size") or 0) for r in records if not r.get("InUse"))
    if dry_run:
        over = min(idle, max(0, total - keep))
        if over:
            acts.append(f"build cache beyond {format_size(keep)} (holds {format_size(total)}, "
                        f"{format_size(idle)} idle): ~{format_size(over)}")
        return over
    r = engine.client.api.prune_builds(keep_storage=keep)
    freed = int(r.get("SpaceReclaimed") or 0)
    if freed:
        acts.append(f"build cache beyond {format_size(keep)}: {len(r.get('CachesDeleted') or [])} "
                    f"record(s)")
    return freed


def _conservative(engine: Engine, dry_run: bool, label: str | None, acts: list[str]) -> int:
    vols = _unused_volumes(engine, label)
    if not vols:
        return 0
    names = [str(v["Name"]) for v in vols]
    if dry_run:
        acts.append(f"{len(vols)} unused anonymous volume(s): " + ", ".join(n[:12] for n in
                                                                           names[:5]))
        return 0
    removed = 0
    for n in names:   # one by one, not prune: a protected volume can never be in the list
        try:
            engine.client.api.remove_volume(n)
            removed += 1
        except Exception:  # in use since listed: leave it
            pass
    if removed:
        acts.append(f"{removed} unused anonymous volume(s)")
    return 0


def clean(engine: Engine, policy: str, dry_run: bool = False, *, label: str | None = None,
          keep_build_cache: int = KEEP_BUILD_CACHE) -> CleanupResult:
    """Run a cleanup policy. `label` ("key=value") limits it to containers, images and volumes
    carrying that label (and then leaves the build cache alone)."""
    if policy not in POLICIES:
        raise BuildorchError(f"unknown cleanup policy {policy!r}: use one of {', '.join(POLICIES)}")
    if policy == "emergency":
        # After ^C: only buildorch's own leftovers (by label), bounded in time.
        return _bounded(lambda: clean(engine, "basic", dry_run, label=label), EMERGENCY_TIMEOUT_S)
    acts: list[str] = []
    freed = _basic(engine, dry_run, label, acts)
    if policy in ("standard", "conservative"):
        freed += _standard(engine, dry_run, label, acts, keep_build_cache)
    if policy == "conservative":
        freed += _conservative(engine, dry_run, label, acts)
    return CleanupResult(freed, acts, dry_run)


def _bounded(work: Callable[[], CleanupResult], timeout_s: float) -> CleanupResult:
    box: list[CleanupResult | BaseException] = []

    def run() -> None:
        try:
            box.append(work())
        except BaseException as exc:  # reported below, never a traceback after ^C
            box.append(exc)

    t = threading.Thread(target=run, daemon=True, name="emergency-cleanup")
    t.start()
    t.join(timeout_s)
    if not box:
        return CleanupResult(0, [f"stopped after {timeout_s:.0f}s"])
    if isinstance(box[0], BaseException):
        return CleanupResult(0, [f"failed: {box[0]}"])
    return box[0]


# -- the guard --------------------------------------------------------------------------------

@dataclass
class DiskGuard:
    """Checked before a tier starts: below its min_free, run its cleanup policy and check
    again; still below, stop with one line. At most once per tier per run; thread-safe."""

    engine: Engine
    label: str | None = None             # scope cleanup (tests)
    measure: Callable[[Engine], tuple[int, str]] = free_bytes
    _done: dict[str, str | BuildorchError | None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, tier: Tier) -> str | None:
        with self._lock:
            if tier.name in self._done:
                prior = self._done[tier.name]
                if isinstance(prior, BuildorchError):
                    raise prior
                return None       # the note went out with the first image of the tier
            try:
                note = self._check(tier)
            except BuildorchError as exc:
                self._done[tier.name] = exc
                raise
            self._done[tier.name] = note
            return note

    def emergency_cleanup(self) -> str:
        """After a cancelled run: only buildorch's own leftovers (by label), bounded in time."""
        return "emergency cleanup: " + clean(self.engine, "emergency", label=self.label).summary()

    def _check(self, tier: Tier) -> str | None:
        if tier.min_free <= 0:
            return None
        free, where = self.measure(self.engine)
        if free >= tier.min_free:
            return None
        policy = tier.cleanup if tier.cleanup in POLICIES else None
        done = "nothing (cleanup = \"none\")"
        if policy:
            res = clean(self.engine, policy, label=self.label)
            done = f"{policy} cleanup {res.summary()}"
            free, where = self.measure(self.engine)
            if free >= tier.min_free:
                return f"{format_size(free)} free in {where} after {done}"
        raise BuildorchError(
            f"tier {tier.name}: {format_size(free)} free in {where}, "
            f"{format_size(tier.min_free)} needed; "
            f"already ran {done}; to go on, free space (`docker image prune -a`, "
            f"`docker builder prune -a`, `docker volume prune`) or lower min_free in "
            f"[tiers.{tier.name}] of services.toml")


def usage_rows(df: dict[str, Any]) -> list[tuple[str, int, int, str]]:
    """(what, count, size, detail) from the engine's disk usage report."""
    images = df.get("Images") or []
    cache = df.get("BuildCache") or []
    vols = df.get("Volumes") or []
    cons = df.get("Containers") or []
    dangling = [i for i in images if not [t for t in (i.get("RepoTags") or [])
                                          if t != "<none>:<none>"]]
    idle = sum(int(c.get("Size") or 0) for c in cache if not c.get("InUse"))
    vsize = sum(max(0, int((v.get("UsageData") or {}).get("Size") or 0)) for v in vols)
    protected = [v["Name"] for v in vols if _protected(v)]
    return [
        ("images", len(images), int(df.get("LayersSize") or 0), f"{len(dangling)} dangling"),
        ("build cache", len(cache), sum(int(c.get("Size") or 0) for c in cache),
         f"{format_size(idle)} not in use"),
        ("volumes", len(vols), vsize,
         f"protected: {', '.join(protected)}" if protected else "none protected"),
        ("containers", len(cons), sum(int(c.get("SizeRw") or 0) for c in cons),
         f"{sum(1 for c in cons if c.get('State') != 'running')} stopped"),
    ]


def ensure_volume(engine: Engine, name: str = PIP_CACHE_VOLUME) -> tuple[bool, str | None]:
    """Create the protected volume unless it exists; (created, note)."""
    import docker.errors

    try:
        vol = engine.client.api.inspect_volume(name)
    except docker.errors.NotFound:
        engine.client.api.create_volume(name, labels={PROTECT_LABEL: "true"})
        return True, None
    if not _protected(vol):   # cannot relabel a volume: it is protected by name anyway
        return False, (f"volume {name} exists without the {PROTECT_LABEL} label; "
                       "it is protected by its name")
    return False, None
