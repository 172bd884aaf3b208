"""What a local cache export costs on the docker driver, side by side in one run.

`buildorch build` (the default: no local export on the docker driver, whose engine keeps its own
build cache) vs `buildorch build --cache-to local` (every build also exports type=local,mode=max
into .buildorch/cache), on:
  (a) one image with a 300 MB layer (RUN head -c 300000000 /dev/urandom > /big): a first build,
      then an edit above that RUN (it runs again);
  (b) the demo stack: a full build, then a one-service change.
Each side gets its own fresh repository and image namespace; the sides alternate.
Prints wall times and the bytes written under .buildorch/cache.
Usage: python bench/local_cache_export.py [--runs 1] [--service stt]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from demo import GIT, REG, demo_repo, remove_images


def bo(repo: Path, *args: str) -> float:
    t = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "buildorch", "build", "--progress", "plain",
                        *args], cwd=repo, capture_output=True, text=True)
    took = time.monotonic() - t
    if p.returncode != 0:
        sys.exit(f"buildorch build {' '.join(args)} failed in {repo}:\n{p.stdout}\n{p.stderr}")
    return took


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def commit(repo: Path, msg: str) -> None:
    subprocess.run([*GIT, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*GIT, "commit", "-qm", msg], cwd=repo, check=True)


def big_repo(tmp: Path, ns: str) -> Path:
    repo = tmp / f"big-{ns}"
    repo.mkdir()
    (repo / "services.toml").write_text(
        f'[project]\nregistry = "{REG}/bench-{ns}"\n[cache]\nfrom = ["local"]\nto = ["local"]\n'
        '[tiers.t]\n[services.big]\ntier = "t"\ndockerfile = "Dockerfile"\n')
    (repo / "Dockerfile").write_text(
        "FROM busybox:1.36\nCOPY edit.txt /edit.txt\n"
        f"RUN echo {ns} > /ns && head -c 300000000 /dev/urandom > /big\n")
    (repo / "edit.txt").write_text("1\n")
    (repo / ".dockerignore").write_text(".git\n.buildorch\n")
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    commit(repo, "init")
    return repo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--service", default="stt")
    a = ap.parse_args()
    sides = {"no export (default)": (), "--cache-to local": ("--cache-to", "local")}
    rows: dict[str, dict[str, list[float]]] = {s: {} for s in sides}
    run_id = uuid.uuid4().hex[:6]
    tmp = Path(tempfile.mkdtemp(prefix="bo-bench-export-"))
    try:
        for i in range(a.runs):
            order = list(sides) if i % 2 == 0 else list(reversed(sides))
            for side in order:
                extra = sides[side]
                r = rows[side]
                ns = f"{run_id}-{i}-{'x' if extra else 'n'}"
                repo = big_repo(tmp, ns)
                r.setdefault("300 MB layer: first build", []).append(bo(repo, *extra))
                (repo / "edit.txt").write_text("2\n")
                commit(repo, "edit")
                r.setdefault("300 MB layer: edit above it", []).append(bo(repo, *extra))
                r.setdefault("300 MB layer: MB in .buildorch/cache", []).append(
                    size(repo / ".buildorch" / "cache") / 1e6)
                repo = demo_repo(tmp, ns, fresh=True)
                r.setdefault("demo stack: full build (15)", []).append(bo(repo, *extra))
                app = repo / "services" / a.service / "app.py"
                app.write_text(app.read_text() + f"# bench {ns}\n")
                commit(repo, "one service")
                r.setdefault(f"demo stack: {a.service} changed", []).append(bo(repo, *extra))
                r.setdefault("demo stack: MB in .buildorch/cache", []).append(
                    size(repo / ".buildorch" / "cache") / 1e6)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        remove_images(f"{REG}/bench-{run_id}-")
    names = list(rows[next(iter(sides))])
    width = max(len(n) for n in names)
    print(f"{'':<{width}}  " + "  ".join(f"{s:>20}" for s in sides)
          + f"   (median of {a.runs}; seconds unless MB)")
    for n in names:
        cells = [statistics.median(rows[s][n]) for s in sides]
        print(f"{n:<{width}}  " + "  ".join(f"{c:>20.1f}" for c in cells))


if __name__ == "__main__":
    main()
