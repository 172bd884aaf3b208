"""How close the ETA comes on cold runs of the demo stack (15 images): the total predicted at
the start of a run (its first `progress` event) against the run's actual total (its last), for
cold runs 2..N (run 1 has no history to go by).

A cold run: every image stale and no build step cached. Before each run the root image's
Dockerfile gets a step of its own right after FROM (a new value each run, committed), so no
cache key of an earlier run matches, and the bench's own images are removed; nothing of
anyone else's is touched (its images are under its own namespace; it prunes no cache).
Beside it, the same schedule played with each image's actual time in that run (its job slot,
from `started` to its end): how far the list-scheduling itself is from the run, with the
history's guess taken out.
Usage: python bench/eta_accuracy.py [--runs 3] [--timings DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from demo import GIT, REG, demo_repo, remove_images  # noqa: E402

from buildorch.running.eta import estimate  # noqa: E402
from buildorch.running.scheduler import Job, Limits  # noqa: E402

BO = [sys.executable, "-m", "buildorch"]


def make_cold(repo: Path, token: str) -> None:
    base = repo / "Dockerfiles" / "python-base.Dockerfile"
    lines = base.read_text().splitlines()
    lines = [ln for ln in lines if not ln.startswith("RUN echo cold-")]
    at = next(i for i, ln in enumerate(lines) if ln.startswith("FROM")) + 1
    lines.insert(at, f"RUN echo cold-{token} > /cold-run")
    base.write_text("\n".join(lines) + "\n")
    subprocess.run([*GIT, "commit", "-qam", f"cold {token}"], cwd=repo, check=True)


def replayed(events: list[dict[str, Any]]) -> float | None:
    """The ETA at the start had it known each image's time in this very run."""
    [planned] = [e for e in events if e["event"] == "planned"]
    tiers = {e["image"]: e["tier"] for e in events if e["event"] == "queued"}
    started = {e["image"]: e["time"] for e in events if e["event"] == "started"}
    took = {e["image"]: e["time"] - started[e["image"]] for e in events
            if e["event"] in ("finished", "failed") and e["image"] in started}
    jobs = [Job(n, tiers[n], tuple(ps)) for n, ps in planned["parents"].items()]
    return estimate(jobs, Limits(planned["jobs"], planned["tier_limits"]), took).remaining_s


def cold_run(repo: Path, prefix: str, extra: list[str]
             ) -> tuple[float | None, float, int, float | None]:
    """(predicted total at the start, actual total, images built, the schedule replayed with
    the run's own times) of one cold run."""
    remove_images(prefix)
    make_cold(repo, uuid.uuid4().hex[:12])
    p = subprocess.run([*BO, "build", "--all", "--progress", "json", *extra], cwd=repo,
                       capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(f"buildorch build failed:\n{p.stdout[-3000:]}\n{p.stderr[-2000:]}")
    events = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    progress = [e for e in events if e.get("event") == "progress"]
    first, last = progress[0], progress[-1]
    assert first["done"] == 0 and last["done"] == last["total"], (first, last)
    return first["eta_s"], last["elapsed_s"], last["total"], replayed(events)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timings", type=Path, help="keep each run's timings page here")
    args = ap.parse_args()
    ns = f"eta-{uuid.uuid4().hex[:8]}"
    tmp = Path(tempfile.mkdtemp(prefix="bo-eta-"))
    prefix = f"{REG}/bench-{ns}/"
    try:
        repo = demo_repo(tmp, ns)
        print(f"demo stack, cold runs, jobs and tier limits from its services.toml ({repo})")
        print(f"{'run':>4} {'images':>6} {'predicted':>10} {'actual':>8} {'error':>7}   "
              f"{'replayed with its own times':>27}")
        errors: list[float] = []
        for i in range(1, args.runs + 1):
            extra = []
            if args.timings:
                args.timings.mkdir(parents=True, exist_ok=True)
                extra = [f"--timings={args.timings / f'cold-{i}.html'}"]
            predicted, actual, n, replay = cold_run(repo, prefix, extra)
            own = "-" if replay is None else \
                f"{replay:.1f}s ({100 * (replay - actual) / actual:+.0f}%)"
            if predicted is None:
                print(f"{i:>4} {n:>6} {'no history':>10} {actual:>7.1f}s {'-':>7}   {own:>27}")
                continue
            err = (predicted - actual) / actual
            if i > 1:
                errors.append(err)
            print(f"{i:>4} {n:>6} {predicted:>9.1f}s {actual:>7.1f}s {100 * err:>+6.0f}%   "
                  f"{own:>27}")
        if errors:
            worst = max(errors, key=abs)
            print(f"ETA error at the start of cold runs 2..{args.runs}: "
                  + ", ".join(f"{100 * e:+.0f}%" for e in errors)
                  + f" (worst {100 * worst:+.0f}%)")
    finally:
        remove_images(prefix)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
