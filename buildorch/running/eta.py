"""The time a run has left, from the history: each remaining image's median duration,
list-scheduled over the remaining graph with the run's job limits, the way the scheduler starts
them (ready images, longest critical path first, within `jobs` and each tier's
`max_parallel`). Not a plain sum: two images that can build side by side cost the longer of the
two. Pure."""

from __future__ import annotations

import heapq
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass

from buildorch.running.scheduler import Job, Limits, critical_path

# The last builds of an image that speak for its next one.
LAST_RUNS = 10


def medians(history: Iterable[Mapping[str, object]], last: int = LAST_RUNS) -> dict[str, float]:
    """Per image, the median time of its last `last` built runs: the time it held a job slot
    (`slot_s`), or for lines written before that was recorded, its build plus its smoke
    check."""
    durations: dict[str, list[float]] = {}
    for h in history:
        d, smoke, slot = h.get("duration_s"), h.get("smoke_s", 0.0), h.get("slot_s")
        if h.get("result") != "built":
            continue
        if isinstance(slot, int | float):
            durations.setdefault(str(h.get("image")), []).append(float(slot))
        elif isinstance(d, int | float) and isinstance(smoke, int | float):
            durations.setdefault(str(h.get("image")), []).append(float(d) + float(smoke))
    return {n: statistics.median(v[-last:]) for n, v in durations.items()}


@dataclass(frozen=True)
class Estimate:
    """`remaining_s`: predicted seconds until the last image ends (None: no image left has a
    history to go by). `no_history`: images left whose duration is a guess (the median of the
    others left)."""

    remaining_s: float | None
    no_history: tuple[str, ...]


def estimate(jobs: Sequence[Job], limits: Limits, durations: Mapping[str, float], *,
             done: Set[str] = frozenset(),
             running: Mapping[str, float] | None = None) -> Estimate:
    """The time left for `jobs` given those `done` (ended in any way) and those `running`
    (name -> seconds they have run so far)."""
    running = running or {}
    left = [j for j in jobs if j.name not in done]
    if not left:
        return Estimate(0.0, ())
    names = {j.name for j in left}
    unknown = tuple(j.name for j in left if j.name not in durations)
    known = [durations[j.name] for j in left if j.name in durations]
    if not known:
        return Estimate(None, unknown)
    guess = statistics.median(known)
    cost = {j.name: durations.get(j.name, guess) for j in left}
    sub = [Job(j.name, j.tier, tuple(p for p in j.parents if p in names)) for j in left]
    cp = critical_path(sub, cost)
    rank = {j.name: i for i, j in enumerate(sub)}
    tier = {j.name: j.tier for j in sub}
    children: dict[str, list[str]] = {j.name: [] for j in sub}
    waiting: dict[str, int] = {}
    for j in sub:
        waiting[j.name] = len(set(j.parents))
        for p in set(j.parents):
            children[p].append(j.name)
    ends: list[tuple[float, int, str]] = []
    tier_busy: Counter[str] = Counter()
    for n, ran in running.items():
        if n in names:
            heapq.heappush(ends, (max(cost[n] - ran, 0.0), rank[n], n))
            tier_busy[tier[n]] += 1
    ready = [n for n in rank if waiting[n] == 0 and n not in running]
    now = 0.0
    while True:
        ready.sort(key=lambda n: (-cp[n], rank[n]))
        for n in list(ready):
            if len(ends) >= limits.jobs:
                break
            if tier_busy[tier[n]] >= limits.tier_max_parallel.get(tier[n], limits.jobs):
                continue
            ready.remove(n)
            tier_busy[tier[n]] += 1
            heapq.heappush(ends, (now + cost[n], rank[n], n))
        if not ends:
            break
        now, _, n = heapq.heappop(ends)
        tier_busy[tier[n]] -= 1
        for c in children[n]:
            waiting[c] -= 1
            if waiting[c] == 0:
                ready.append(c)
    return Estimate(now, unknown)
