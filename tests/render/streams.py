"""Event streams of runs, made up (unit tests of the timeline, the page and the trace): the
times are chosen so that every phase and outcome shows."""

from __future__ import annotations

from buildorch.running.events import (
    Event,
    Failed,
    Finished,
    Planned,
    Queued,
    Skipped,
    SmokeFinished,
    SmokeStarted,
    Started,
    Step,
)

T0 = 1_000_000.0


def diamond_run() -> list[Event]:
    """base -> (a, b) -> c, and lone; two job slots.
    base 0-2 (steps 0-1 cached, 1-2); lone 0-5; a 2-4 + smoke 4-5; b ready at 2 but queued
    for a slot until 4 (needs a slot: lone holds one until 5... a ends 5), b 5-6 fails;
    c (child of a and b) skipped at 6."""
    def t(s: float) -> float:
        return T0 + s

    return [
        Planned("", parents={"base": (), "a": ("base",), "b": ("base",), "c": ("a", "b"),
                             "lone": ()}, jobs=2, tier_limits={}, time=t(0)),
        *(Queued(n, tier, time=t(0)) for n, tier in
          (("base", "t0"), ("lone", "t0"), ("a", "t1"), ("b", "t1"), ("c", "t2"))),
        Started("base", "t0", time=t(0)),
        Started("lone", "t0", time=t(0)),
        Step("base", "[1/2] RUN prepare", t(0.1), t(0.1), True, None, time=t(0.2)),
        Step("base", "[2/2] RUN make", t(0.2), t(1.9), False, None, time=t(1.9)),
        Finished("base", 2.0, 2, 1, "sha256:1", time=t(2)),
        Started("a", "t1", time=t(2)),
        Step("a", "[1/1] COPY x /x", t(2.5), t(3.5), False, None, time=t(3.5)),
        SmokeStarted("a", "healthcheck", time=t(4)),
        SmokeFinished("a", "passed", 1.0, time=t(5)),
        Finished("a", 2.0, 1, 0, "sha256:2", time=t(5)),
        Finished("lone", 5.0, 0, 0, "sha256:3", reused=True, time=t(5)),
        Started("b", "t1", time=t(5)),
        Step("b", "[1/1] RUN false", t(5.2), t(5.9), False, "exit code: 1", time=t(5.9)),
        Failed("b", "RUN false: exit code: 1", 1.0, time=t(6)),
        Skipped("c", "parent b failed", time=t(6)),
    ]


def wide_run(n: int, jobs: int = 8, steps: int = 6) -> list[Event]:
    """`n` images in tiers of 20, each the child of one of the tier above; `jobs` slots; each
    image 1 + (i % 5) seconds with `steps` steps, half of them cached: a large run's stream."""
    out: list[Event] = []
    parents = {f"img{i:03d}": ((f"img{i - 20 - i % 3:03d}",) if i >= 20 + i % 3 else ())
               for i in range(n)}
    out.append(Planned("", parents=parents, jobs=jobs, tier_limits={}, time=T0))
    out += [Queued(name, f"tier{int(name[3:]) // 20}", time=T0) for name in parents]
    ends: dict[str, float] = {}
    free = [T0] * jobs
    for name, ps in parents.items():
        slot = min(range(jobs), key=lambda k: free[k])
        start = max([free[slot], *(ends[p] for p in ps)])
        took = 1.0 + int(name[3:]) % 5
        out.append(Started(name, f"tier{int(name[3:]) // 20}", time=start))
        for k in range(steps):
            a = start + took * k / steps
            out.append(Step(name, f"[{k + 1}/{steps}] RUN step {k}", a, a + took / steps,
                            k % 2 == 0, None, time=a + took / steps))
        ends[name] = free[slot] = start + took
        out.append(Finished(name, took, steps, steps // 2, "sha256:x", time=start + took))
    out.sort(key=lambda e: e.time)
    return out
