"""The pre-push hook's run time when pushing right after a build, on a repository shaped like
the seed's (ghcr-style FROM lines, python-base -> python-ml -> services, 8 images).

Two pushes, each right after `buildorch build` said everything is built:
  (a) a new branch (the remote has no such branch: git passes 000…0 as the remote sha);
  (b) main, after a commit that changes python-ml's requirements (python-ml and its 4
      descendants, built locally before the push).
Each push is timed whole (`git push` through the installed hook), median of --runs.
The interpreter that runs buildorch (and the hook) is --python: point it at another checkout's
venv to measure that code (e.g. /work/main/.venv/bin/python for the code on main).
Usage: python bench/hook_after_build.py [--runs 3] [--python PY]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import GIT_ENV, seed, write_files  # noqa: E402

ENV = {**os.environ, **GIT_ENV}


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-2000:]}\n"
                         f"{p.stderr[-2000:]}")
    return p


def timed_push(repo: Path, *args: str) -> tuple[float, str]:
    t = time.perf_counter()
    p = run(["git", "push", "-q", *args], repo)
    took = time.perf_counter() - t
    said = [line for line in p.stderr.splitlines() if "buildorch" in line]
    return took, (said[-1] if said else "(nothing said)")


def trial(py: str, work: Path, reg: str, i: int) -> tuple[float, float, str, str]:
    repo, remote = work / f"repo{i}", work / f"remote{i}.git"
    repo.mkdir()
    write_files(repo, seed(reg, f"bench{i}"))
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", "initial"], repo)
    run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], work)
    run(["git", "remote", "add", "origin", str(remote)], repo)
    run(["git", "push", "-q", "--no-verify", "-u", "origin", "main"], repo)
    run([py, "-m", "buildorch", "hook", "install"], repo)
    run([py, "-m", "buildorch", "build", "--progress", "plain"], repo)

    run(["git", "switch", "-q", "-c", f"topic{i}"], repo)
    new_branch, said_a = timed_push(repo, "origin", f"topic{i}")

    run(["git", "switch", "-q", "main"], repo)
    (repo / "requirements/ml.txt").write_text(f"numpy\nscipy=={i}\n")
    run(["git", "commit", "-q", "-am", "python-ml change"], repo)
    run([py, "-m", "buildorch", "build", "--progress", "plain"], repo)
    after_change, said_b = timed_push(repo, "origin", "main")
    return new_branch, after_change, said_a, said_b


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--python", default=sys.executable,
                    help="the interpreter that runs buildorch and the hook")
    args = ap.parse_args()
    owner = f"bo-bench-{uuid.uuid4().hex[:8]}"
    reg = f"ghcr.io/{owner}"
    a: list[float] = []
    b: list[float] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bo-hook-bench-") as tmp:
            for i in range(args.runs):
                ta, tb, said_a, said_b = trial(args.python, Path(tmp), reg, i)
                a.append(ta)
                b.append(tb)
                print(f"run {i}: new branch {ta:.2f}s ({said_a})", flush=True)
                print(f"run {i}: main after a built change {tb:.2f}s ({said_b})", flush=True)
    finally:
        out = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"],
                             capture_output=True, text=True).stdout.split()
        mine = [t for t in out if t.startswith(reg + "/")]
        if mine:
            subprocess.run(["docker", "rmi", "-f", *mine], capture_output=True)
    print(f"python: {args.python}")
    print(f"hook, new branch right after a build:      median {statistics.median(a):.2f}s "
          f"over {len(a)} run(s)")
    print(f"hook, push of a base change built before: median {statistics.median(b):.2f}s "
          f"over {len(b)} run(s)")


if __name__ == "__main__":
    main()
