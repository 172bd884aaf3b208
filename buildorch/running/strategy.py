"""What a builder can do, decided from what it is: caches and how children reach their parents.

Pure: the facts come from `edges/capabilities.py` (docker info, buildx inspect), as
docs/explanation/engines.md describes:

* The `docker` driver on the classic image store exports no cache but `inline` ("Cache export
  is not supported for the docker driver"); it imports registry caches.
* The `docker` driver's engine keeps its own build cache: exporting `type=local` beside it only
  writes the same layers again (measured: +70% on a 300 MB layer). Other drivers (container,
  remote, kubernetes) may be recreated, and their cache with them: there `local` pays.
* A builder whose results do not land in the local engine's store (another engine through a
  docker context, or any non-docker driver) resolves a child's `FROM` from its own store and the
  registry: the parent just built reaches it only if pushed, and the child is pinned to that
  digest (`--build-context REF=docker-image://REPO@sha256:…`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from buildorch.errors import BuildorchError

CLASSIC = "classic"
CONTAINERD = "containerd"


@dataclass(frozen=True)
class BuilderInfo:
    """One builder as buildx and the engine describe it."""

    name: str                   # buildx builder / docker context name
    driver: str                 # docker | docker-container | remote | kubernetes | ...
    endpoint: str               # the context's engine address, or the node's endpoint
    current: bool = False       # the current builder (no `builder` in the tier)
    same_engine: bool = True    # its images land in the engine buildorch talks to
    image_store: str | None = None   # docker driver: "containerd" | "classic"
    reachable: bool = True
    problem: str = ""           # why it is unusable, if it is

    @property
    def persists_cache(self) -> bool:
        """The docker driver's engine keeps its build cache; a container builder may not."""
        return self.driver == "docker"

    @property
    def via_registry(self) -> bool:
        """Its results reach other builders (and the local engine) only through the registry."""
        return not (self.driver == "docker" and self.same_engine)

    @property
    def docker_context(self) -> str | None:
        """Docker-driver builders are docker contexts: run `docker --context NAME buildx`
        (buildx refuses `--builder NAME` for them)."""
        return self.name if self.driver == "docker" and not self.current else None

    @property
    def buildx_builder(self) -> str | None:
        return self.name if self.driver != "docker" and not self.current else None

    def describe(self) -> str:
        store = f", {self.image_store} image store" if self.image_store else ""
        where = "" if self.same_engine else f" at {self.endpoint}"
        return f"builder {self.name!r} ({self.driver} driver{store}{where})"

    def can_export(self, kind: str) -> bool:
        if kind == "inline" or self.driver != "docker":
            return True
        return self.image_store == CONTAINERD


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


@dataclass(frozen=True)
class ParentPlan:
    """Which images are pushed so that another builder can read them, and the pins."""

    push_after_build: frozenset[str]      # built locally, then pushed (a child reads the registry)
    push_fresh: frozenset[str]            # not rebuilt, pushed before their children build
    built_remotely: frozenset[str]        # built via the registry, then pulled into the engine
    pins: Mapping[str, tuple[str, ...]]   # child -> parents pinned by digest


def parent_plan(stale: Iterable[str], parents: Mapping[str, Sequence[str]],
                builder_of: Mapping[str, BuilderInfo], *, registry: str | None) -> ParentPlan:
    """`parents`: every configured parent of each stale image (stale or not);
    `builder_of`: image -> its tier's builder, for stale images and their parents."""
    stale = set(stale)
    pins: dict[str, tuple[str, ...]] = {}
    push_after: set[str] = set()
    push_fresh: set[str] = set()
    for child in sorted(stale):
        pinned = tuple(p for p in parents.get(child, ())
                       if builder_of[child].via_registry or builder_of[p].via_registry)
        if pinned:
            pins[child] = pinned
    # Another engine's images reach this one only through the registry; a container builder
    # can --load into it, but then its children on other builders still need the push.
    elsewhere = {n for n in stale
                 if builder_of[n].via_registry and builder_of[n].driver == "docker"}
    if not registry:
        why = next((f"{builder_of[n].describe()} builds {n}" for n in sorted(elsewhere)), None) \
            or next((f"{c} and its parent {pins[c][0]} build on different builders"
                     f" ({builder_of[c].describe()})" for c in sorted(pins)), None)
        if why:
            raise BuildorchError(
                f"{why}: a parent reaches its child (and this engine) only through a registry, "
                "and none is configured; set [project] registry in services.toml (e.g. "
                "\"127.0.0.1:5000/app\") or remove `builder` from the tier")
        return ParentPlan(frozenset(), frozenset(), frozenset(), {})
    remote = {n for n in stale if builder_of[n].via_registry}
    for pinned in pins.values():
        for p in pinned:
            if p not in stale:
                push_fresh.add(p)
            elif p not in remote:
                push_after.add(p)
    return ParentPlan(frozenset(push_after), frozenset(push_fresh), frozenset(remote), pins)


def image_store(info: Mapping[str, object]) -> str:
    """`docker info`: the containerd snapshotter reports DriverStatus [["driver-type",
    "io.containerd.snapshotter.v1"]]; a graph driver (overlay2, ...) is the classic store."""
    for row in info.get("DriverStatus") or ():   # type: ignore[attr-defined]
        if isinstance(row, list | tuple) and len(row) == 2 and \
                "io.containerd.snapshotter" in str(row[1]):
            return CONTAINERD
    return CLASSIC
