"""Stale images and why, closed over dependents, in build order. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from buildorch.config_keys import close_matches
from buildorch.edges.state import Record
from buildorch.errors import BuildorchError
from buildorch.planning.digest import Snapshot

MAX_PATHS = 5


@dataclass(frozen=True)
class Stale:
    name: str
    tier: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    stale: tuple[Stale, ...]
    fresh: tuple[str, ...]
    baseline: str

    def to_json(self) -> dict[str, object]:
        return {
            "stale": [{"name": s.name, "tier": s.tier, "reasons": list(s.reasons)}
                      for s in self.stale],
            "fresh": list(self.fresh),
        }

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.stale]


def _paths(verb: str, paths: list[str], origins: Mapping[str, str]) -> list[str]:
    out = [f"input {verb}: {p}" + (f" ({origins[p]})" if p in origins else "")
           for p in paths[:MAX_PATHS]]
    if len(paths) > MAX_PATHS:
        out.append(f"input {verb}: … and {len(paths) - MAX_PATHS} more")
    return out


def own_reasons(now: Record, then: Record | None, what: str) -> list[str]:
    """Why `now` differs from `then`, parents aside. `what` names the baseline."""
    if then is None:
        return [f"not in {what}"]
    if now.digest == then.digest:
        return []
    reasons: list[str] = []
    if now.instructions != then.instructions:
        reasons.append(f"Dockerfile changed: {now.dockerfile}")
    for key in sorted(set(now.args) | set(then.args)):
        if now.args.get(key) != then.args.get(key):
            reasons.append(f"config changed: args.{key}")
    for key in sorted(set(now.labels) | set(then.labels)):
        if now.labels.get(key) != then.labels.get(key):
            reasons.append(f"config changed: labels.{key}")
    if now.target != then.target:
        reasons.append("config changed: target")
    if now.platform != then.platform:
        reasons.append("config changed: platform")
    if then.files is not None and now.files is not None:
        old, new = then.files, now.files
        reasons += _paths("changed", sorted(p for p in new if p in old and old[p] != new[p]),
                          now.origins)
        reasons += _paths("added", sorted(p for p in new if p not in old), now.origins)
        reasons += _paths("removed", sorted(p for p in old if p not in new), then.origins)
    for p in sorted(set(now.parents) - set(then.parents)):
        reasons.append(f"parent added: {p}")
    for p in sorted(set(then.parents) - set(now.parents)):
        reasons.append(f"parent removed: {p}")
    return reasons


def make_plan(
    snap: Snapshot,
    baseline: Mapping[str, Record],
    *,
    what: str,
    selected: Iterable[str] = (),
    force_all: bool = False,
    engine: Mapping[str, str | None] | None = None,
    ancestry: bool = True,
) -> Plan:
    """`what` names the baseline in reasons ("the manifest", "HEAD~1"). `selected` narrows the
    plan to those images and their ancestry (only those with `ancestry=False`: their parents
    are taken as they are). `engine`, when known: the images the engine
    holds, each with the digest label of the image (None when buildorch did not build it)."""
    graph = snap.graph
    names = graph.order()
    chosen = set(names)
    wanted = list(selected)
    if wanted:
        chosen = set()
        for n in wanted:
            if n not in snap.records:
                hint = close_matches(n, names)
                raise BuildorchError(
                    f"unknown image {n!r}"
                    + (f"; did you mean {hint[0]!r}?" if hint else
                       ": name one of the images of services.toml (`buildorch graph` lists "
                       "them)")
                )
            chosen |= {n} | (graph.ancestors(n) if ancestry else set())
    stale: dict[str, list[str]] = {}
    for n in names:
        if n not in chosen:
            continue
        now = snap.records[n]
        reasons = own_reasons(now, baseline.get(n), what)
        prior = baseline.get(n)
        if engine is not None:
            if n not in engine:
                reasons.append("image missing locally")
            elif prior is not None and engine[n] != prior.digest and not reasons:
                # Someone else (compose, bake, a pull) put another image under this tag.
                reasons.append("image in the engine is not the one buildorch built")
        for p in graph.parents(n):
            if p in stale:
                reasons.append(f"parent {p} rebuilt")
            elif baseline.get(n) is not None and p in now.parents and \
                    baseline[n].parents.get(p, now.parents[p]) != now.parents[p]:
                reasons.append(f"parent {p} changed since {n} was built")
        if not reasons and prior is not None and prior.digest != now.digest:
            reasons.append("inputs changed")
        if force_all and not reasons:
            reasons.append("--all requested")
        if reasons:
            stale[n] = reasons
    return Plan(
        stale=tuple(Stale(n, graph.tier(n), tuple(r)) for n, r in stale.items()),
        fresh=tuple(n for n in names if n in chosen and n not in stale),
        baseline=what,
    )
