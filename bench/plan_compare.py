"""Is planning slower than at another commit? plan_scale's repository, each command run by the
code at REF and by this checkout in turn, on the same repository and the same load.

On a shared machine wall times swing by half between runs; the CPU time of each process (user +
sys, from its rusage) moves far less, so both are printed (medians). The two versions must
print the same plan, or this stops.

Usage: python bench/plan_compare.py [--against main] [--images 200] [--files 50000] [--runs 11]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from plan_scale import generate, record_manifest

ROOT = Path(__file__).resolve().parents[1]


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    start = time.perf_counter()
    p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    assert p.stdout is not None
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    if status != 0:
        raise SystemExit(f"{argv} failed in {cwd}")
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--against", default="main")
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--files", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=11)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bo-compare-"))
    try:
        old = tmp / "old"
        old.mkdir()
        archive = subprocess.run(["git", "archive", a.against, "buildorch"], cwd=ROOT,
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        repo = tmp / "repo"
        services = generate(repo, a.images, a.files)
        record_manifest(repo)
        (next((repo / "services" / services[0] / "src").rglob("*.py"))).write_text("X = 1\n")
        envs = {a.against: {**os.environ, "PYTHONPATH": str(old)},
                "this checkout": {**os.environ, "PYTHONPATH": str(ROOT)}}
        print(f"{a.images} images, {a.files} files; one file edited; medians of {a.runs} runs")
        for args in (["plan"], ["plan", "--since", "HEAD"]):
            wall: dict[str, list[float]] = {k: [] for k in envs}
            cpu: dict[str, list[float]] = {k: [] for k in envs}
            outs: dict[str, str] = {}
            for _ in range(a.runs):
                for k, env in envs.items():
                    w, c, outs[k] = run([sys.executable, "-m", "buildorch", *args, "--json"],
                                        repo, env)
                    wall[k].append(w)
                    cpu[k].append(c)
            if len(set(outs.values())) != 1:
                raise SystemExit(f"the two versions plan differently: {outs}")
            print(f"buildorch {' '.join(args)}")
            for k in envs:
                print(f"  {k:<14} wall {statistics.median(wall[k]):.3f} s   "
                      f"cpu {statistics.median(cpu[k]):.3f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
