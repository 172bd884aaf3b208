"""buildorch build vs docker buildx bake vs a single docker buildx build, on the demo stack
(15 images) and on a small graph of 6 of them (`--small`).

Side by side in one run (this machine is noisy), alternating, median of --runs:
  (a) no change:          `buildorch build`  vs  `docker buildx bake` of the same 15 images,
                          everything cached.                          target: >= 5x faster
  (b) one-service change: `buildorch build`  vs  the single `docker buildx build` of that
                          service alone (the floor)  vs  bake of everything.
                                                                      target: <= 1.15x floor
The demo stack is copied into a temporary git repository under its own image namespace.
Usage: python bench/build_compare.py [--runs 5] [--service stt] [--small]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from demo import REG, SMALL, demo_repo, remove_images  # noqa: E402

import buildorch  # noqa: E402
from buildorch.ops.bake import bake_file  # noqa: E402

RETRIED: list[str] = []
# As installed: bytecode compiled once (PYTHONDONTWRITEBYTECODE would make every buildorch run
# compile itself again), kept in a temporary folder, never in a checkout.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "bo-compare-pycache")
BREAKDOWN: list[tuple[float, float, float, float]] = []


def sh(cmd: list[str], cwd: Path, tries: int = 3, expect: str = "") -> float:
    """Wall time of one successful run. Engine 26's containerd store sometimes fails a
    concurrent export ("parent snapshot ... does not exist"); such a run is retried, counted
    and reported, never timed."""
    for _ in range(tries):
        t = time.perf_counter()
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=ENV)
        took = time.perf_counter() - t
        if p.returncode == 0:
            if expect not in p.stdout:
                raise SystemExit(f"{' '.join(cmd)}: expected {expect!r} in:\n{p.stdout[-2000:]}")
            return took
        last = (p.stderr.strip().splitlines() or ["?"])[-1]
        RETRIED.append(f"{cmd[0]} {cmd[1]} {cmd[2]}: {last}")
    raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--service", default="stt")
    ap.add_argument("--small", action="store_true", help="the 6-image graph instead of 15")
    a = ap.parse_args()
    only = SMALL if a.small else ()
    if a.small and a.service not in SMALL:
        a.service = "discord"
    tmp = Path(tempfile.mkdtemp(prefix="bo-compare-"))
    ns = uuid.uuid4().hex[:8]
    try:
        repo = demo_repo(tmp, ns, only=only)
        # --no-smoke: the floor and bake run no smoke check either (a check costs ~0.4-1 s)
        bo = [sys.executable, "-m", "buildorch", "build", "--progress", "plain", "--no-smoke"]
        print(f"first build of the demo stack: {sh(bo, repo):.1f}s")
        cfg = buildorch.load_config(repo / "services.toml")
        from buildorch.planning.baseline import work_snapshot  # the graph, for bake_file

        snap = work_snapshot(cfg)
        # Parents come from the engine's image store (all built above): bake's `target:`
        # contexts with tagged references are not honoured by buildx 0.13's docker driver.
        bake = bake_file(cfg, snap.graph, contexts=False)
        # bake tags its own images (:bake) so that it never overwrites what buildorch built:
        # each tool's no-change run then really is a no-change run for that tool.
        for target in bake["target"].values():  # type: ignore[attr-defined]
            target["tags"] = [t.rsplit(":", 1)[0] + ":bake" for t in target["tags"]]
        (repo / "docker-bake.json").write_text(json.dumps(bake))
        bake_cmd = ["docker", "buildx", "bake", "-f", "docker-bake.json", "--load",
                    "--progress=plain", "--provenance=false"]
        app = repo / "services" / a.service / "app.py"
        original = app.read_text()   # edits keep it: the service's smoke check reads it

        def edit(text: str) -> None:
            app.write_text(f"{original}# {text}\n")

        nochange_bo, nochange_bake, change_bo, change_floor, change_bake = [], [], [], [], []
        for i in range(a.runs):
            # bake: one service changed, then the same again (everything cached)
            edit(f"run {i} bake {uuid.uuid4()}")
            change_bake.append(sh(bake_cmd, repo))
            nochange_bake.append(sh(bake_cmd, repo))
            # Whichever build runs first after bake pays for the engine settling (~0.2 s,
            # measured): alternate the order so neither side always pays it.
            for who in ("floor", "buildorch") if i % 2 == 0 else ("buildorch", "floor"):
                edit(f"run {i} {who} {uuid.uuid4()}")
                if who == "floor":   # the one `docker buildx build` buildorch would run
                    change_floor.append(sh(buildorch.buildx_argv(cfg, a.service), repo))
                else:
                    done = f"1 built, 0 reused, {len(cfg.images) - 1} up to date"
                    change_bo.append(sh(bo, repo, expect=done))
            # the same once more with JSON events, to see where the time goes
            edit(f"run {i} breakdown {uuid.uuid4()}")
            t0 = time.time()
            p = subprocess.run([*bo[:-3], "--no-smoke", "--progress", "json"], cwd=repo,
                               capture_output=True,
                               text=True)
            t1 = time.time()
            ev = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
            started = next(e["time"] for e in ev if e["event"] == "started")
            fin = next(e for e in ev if e["event"] == "finished")
            BREAKDOWN.append((started - t0, fin["duration_s"],
                              fin["time"] - started - fin["duration_s"], t1 - fin["time"]))
            nochange_bo.append(sh(bo, repo, expect="nothing to build"))
        m = statistics.median
        print(f"runs: {a.runs} (median), {len(cfg.images)} images")
        print(f"(a) no change:   buildorch build {m(nochange_bo):6.2f}s   "
              f"bake (all cached) {m(nochange_bake):6.2f}s   "
              f"bake/buildorch = {m(nochange_bake) / m(nochange_bo):.1f}x  (target >= 5x)")
        print(f"(b) one service: buildorch build {m(change_bo):6.2f}s   "
              f"single buildx build {m(change_floor):6.2f}s   bake all {m(change_bake):6.2f}s")
        print(f"    buildorch/floor = {m(change_bo) / m(change_floor):.2f}x  (target <= 1.15x)   "
              f"bake/buildorch = {m(change_bake) / m(change_bo):.1f}x   "
              f"buildorch overhead = {m(change_bo) - m(change_floor):+.2f}s")
        parts = [m(b[k] for b in BREAKDOWN) for k in range(4)]  # type: ignore[arg-type]
        print(f"    where buildorch's one-service run goes: start to first build {parts[0]:.2f}s, "
              f"the buildx build {parts[1]:.2f}s, bookkeeping {parts[2]:.2f}s, "
              f"exit {parts[3]:.2f}s")
        for r in RETRIED:
            print(f"retried after an engine error: {r[:160]}")
    finally:
        remove_images(f"{REG}/bench-{ns}/")
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
