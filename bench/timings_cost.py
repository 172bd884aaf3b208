"""What `--timings` and `--trace` cost a run, and how big they are.

(a) Side by side on the demo stack (15 images), alternating, median of --runs: `buildorch
    build --all` (every step cached: the run is short, so a cost would show) with and without
    `--timings --trace FILE`.
(b) The work they add, measured alone: fold the run's events, render the page and the trace,
    write both (median of 20), for that real run and for a made-up run of 200 images.
(c) The size of the page and of the trace, for 15 and for 200 images.
The bench's images are under its own namespace and removed at the end; it prunes no cache.
Usage: python bench/timings_cost.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from demo import REG, demo_repo, remove_images  # noqa: E402

from buildorch.cli.timings import write  # noqa: E402
from buildorch.running.events import EVENT_TYPES, Event  # noqa: E402
from tests.render.streams import wide_run  # noqa: E402

BO = [sys.executable, "-m", "buildorch"]
KINDS = {t.KIND: t for t in EVENT_TYPES}


def timed(repo: Path, *extra: str) -> tuple[float, list[dict[str, object]]]:
    t = time.perf_counter()
    p = subprocess.run([*BO, "build", "--all", "--progress", "json", *extra], cwd=repo,
                       capture_output=True, text=True)
    took = time.perf_counter() - t
    if p.returncode:
        raise SystemExit(f"build failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return took, [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]


def revive(obj: dict[str, object]) -> Event:
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in obj.items() if k != "event"}
    return KINDS[str(obj["event"])](**fields)  # type: ignore[arg-type]


def render_cost(events: Sequence[Event], tmp: Path) -> tuple[float, int, int]:
    """Median seconds to fold, render and write both; the page's and the trace's bytes."""
    times = []
    for i in range(20):
        t = time.perf_counter()
        page, trace = write(tmp, events, f"bench-{i}", timings=str(tmp / "p.html"),
                            trace=str(tmp / "t.json"))
        times.append(time.perf_counter() - t)
    return statistics.median(times), page.stat().st_size, trace.stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    ns = f"tcost-{uuid.uuid4().hex[:8]}"
    tmp = Path(tempfile.mkdtemp(prefix="bo-tcost-"))
    prefix = f"{REG}/bench-{ns}/"
    try:
        repo = demo_repo(tmp, ns)
        timed(repo)   # the first build fills the cache; not timed
        plain: list[float] = []
        seen: list[float] = []
        events: list[dict[str, object]] = []
        for _ in range(args.runs):
            plain.append(timed(repo)[0])
            took, events = timed(repo, "--timings", "--trace", str(tmp / "run.json"))
            seen.append(took)
        a, b = statistics.median(plain), statistics.median(seen)
        print(f"(a) build --all, demo stack (15 images, all cached), median of {args.runs}, "
              "alternating:")
        print(f"    without: {a:6.2f}s  (runs {', '.join(f'{x:.2f}' for x in plain)})")
        print(f"    with --timings --trace: {b:6.2f}s  (runs "
              f"{', '.join(f'{x:.2f}' for x in seen)})  difference {b - a:+.2f}s")
        real = [revive(e) for e in events]
        big = wide_run(200)
        out = tmp / "out"
        out.mkdir()
        for label, evs in (("15 images (the demo run above)", real),
                           ("200 images (made up: 6 steps each)", big)):
            cost, page, trace = render_cost(evs, out)
            print(f"(b,c) {label}: {len(evs)} events; fold + page + trace written in "
                  f"{1000 * cost:.1f} ms; page {page / 1000:.1f} kB, trace {trace / 1000:.1f} kB")
    finally:
        remove_images(prefix)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
