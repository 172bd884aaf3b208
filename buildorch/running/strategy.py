"""The run's strategy, decided before anything starts from what each tier's builder is
(`edges/capabilities.py`): its builder and cache plan (`cache.py`), and which parents travel to
their children through the registry.

A builder whose results do not land in the local engine's store (another engine through a
docker context, or any non-docker driver) resolves a child's `FROM` from its own store and the
registry: the parent just built reaches it only if pushed, and the child is pinned to that
digest (`--build-context REF=docker-image://REPO@sha256:…`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from buildorch.config import Config
from buildorch.edges.capabilities import BuilderInfo, Capabilities
from buildorch.errors import BuildorchError
from buildorch.planning.digest import Snapshot
from buildorch.running.cache import CachePlan, cache_plan
from buildorch.running.options import BuildOptions


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


def builder_name(cfg: Config, name: str) -> str | None:
    """The `builder` of the image's tier (None: the current builder)."""
    return cfg.tiers[cfg.images[name].tier].builder


@dataclass(frozen=True)
class Strategy:
    """What this run's builders can do: each tier's builder and cache plan, and the parents
    that travel through the registry. Decided before anything starts."""

    caps: Capabilities
    cache: dict[str, CachePlan]          # tier -> its cache plan
    parents: ParentPlan
    notes: tuple[str, ...]

    def builder(self, cfg: Config, name: str) -> BuilderInfo:
        return self.caps.builder(builder_name(cfg, name))


def plan_strategy(cfg: Config, opts: BuildOptions, caps: Capabilities, snap: Snapshot,
                  stale: set[str]) -> Strategy:
    """Raises BuildorchError (one line, naming the tier) for what cannot work."""
    tiers = sorted({cfg.images[n].tier for n in stale})
    cache: dict[str, CachePlan] = {}
    notes: list[str] = []
    for t in tiers:
        b = caps.builder(cfg.tiers[t].builder)
        if not b.reachable:
            raise BuildorchError(f"[tiers.{t}]: {b.problem}")
        cache[t] = cache_plan(cfg.cache_from, cfg.cache_to, opts.cache_to, b,
                              where=f" ([tiers.{t}])")
        notes.extend(n for n in cache[t].notes if n not in notes)
    parents = {n: tuple(snap.graph.parents(n)) for n in stale}
    builder_of = {n: caps.builder(builder_name(cfg, n))
                  for n in {*stale, *(p for ps in parents.values() for p in ps)}}
    pp = parent_plan(stale, parents, builder_of, registry=cfg.registry)
    return Strategy(caps, cache, pp, tuple(notes))
