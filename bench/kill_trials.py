"""kill -9 of `buildorch build` at random moments, then the next build and a no-change run.

Prints, over --trials: how often the next build and the following no-change run succeeded, how
often a `docker buildx` child outlived the killed process, and how often buildorch recovered an
interrupted export (rebuilt that image without the cache). Point it at a private engine:
  DOCKER_HOST=$(python -m tests.engines up bench-kill containerd | tail -1) \
      python bench/kill_trials.py --trials 20 --seed 1
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import git, stack, write_files  # noqa: E402


def run(repo: Path) -> tuple[int, list[dict[str, object]]]:
    p = subprocess.run([sys.executable, "-m", "buildorch", "build", "--progress", "json"],
                       cwd=repo, capture_output=True, text=True, timeout=600)
    return p.returncode, [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]


def children(repo: Path) -> int:
    out = subprocess.run(["ps", "-ewwo", "args"], capture_output=True, text=True).stdout
    return sum(1 for ln in out.splitlines() if "buildx" in ln and str(repo) in ln)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-delay", type=float, default=12.0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    tally = {"next ok": 0, "no-change ok": 0, "children outlived": 0, "recovered": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.trials):
            ns = uuid.uuid4().hex[:10]
            repo = Path(tmp) / ns
            repo.mkdir()
            write_files(repo, stack(ns, tier1_parallel=3, jobs=3))
            git(repo, "init", "-q", "-b", "main")
            git(repo, "add", "-A")
            git(repo, "commit", "-qm", "x")
            delay = rng.uniform(0.5, a.max_delay)
            p = subprocess.Popen([sys.executable, "-m", "buildorch", "build", "--progress",
                                  "json"], cwd=repo, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            time.sleep(delay)
            p.kill()
            p.wait()
            time.sleep(3)
            outlived = children(repo)
            tally["children outlived"] += outlived > 0
            rc, ev = run(repo)
            tally["next ok"] += rc == 0
            tally["recovered"] += any(e["event"] == "warning" and "interrupted export"
                                      in str(e["message"]) for e in ev)
            rc2, ev2 = run(repo)
            ok2 = rc2 == 0 and not any(e["event"] == "finished" for e in ev2)
            tally["no-change ok"] += ok2
            print(f"trial {i + 1}: killed at {delay:.1f}s, outlived {outlived}, next rc {rc}, "
                  f"no-change {'ok' if ok2 else 'FAILED'}", flush=True)
    print(f"{a.trials} trials: " + ", ".join(f"{k} {v}/{a.trials}" for k, v in tally.items()))


if __name__ == "__main__":
    main()
