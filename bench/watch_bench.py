"""`buildorch watch`: how soon an edit is built, and what an idle watch costs.

Prints:
  (a) latency from saving a one-line edit of `services/stt/app.py` to stt "built" (the
      `finished` event's time), demo stack, side by side and alternating, median of --runs:
      `buildorch watch` running  vs  `buildorch service stt` started by hand right after the
      save (no human delay counted: the floor of the manual loop). Two copies of the demo
      stack, one per way, each under its own image namespace.
  (b) CPU of an idle watch (utime+stime from /proc/PID/stat over --idle seconds, all its
      threads) on the demo repository and on a generated --files repository (target: < 1 %
      of one core), and its memory (VmRSS, VmHWM) on the latter.

Usage: python bench/watch_bench.py [--runs 5] [--idle 30] [--files 50000] [--service stt]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from demo import GIT, REG, demo_repo, remove_images  # noqa: E402

BO = [sys.executable, "-m", "buildorch"]
TICK = os.sysconf("SC_CLK_TCK")


class Watch:
    """`buildorch watch --progress json` in `repo`; its JSON lines read on a thread."""

    def __init__(self, repo: Path) -> None:
        self.proc = subprocess.Popen([*BO, "watch", "--progress", "json"], cwd=repo,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, start_new_session=True)
        self.events: queue.Queue[dict[str, object]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.events.put(json.loads(line))

    def until(self, kind: str, timeout: float, image: str | None = None) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise SystemExit(f"watch: no {kind} event within {timeout}s "
                                 f"(exit {self.proc.poll()})")
            try:
                e = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if e["event"] == kind and (image is None or e.get("image") == image):
                return e

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK   # utime, stime (fields 14, 15)


def memory(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])   # kB
    return out


def idle_cpu(w: Watch, seconds: float) -> float:
    """Percent of one core over `seconds` with nothing changing."""
    c0, t0 = cpu_seconds(w.proc.pid), time.monotonic()
    time.sleep(seconds)
    c1, t1 = cpu_seconds(w.proc.pid), time.monotonic()
    return 100 * (c1 - c0) / (t1 - t0)


def inotify_watches(pid: int) -> int:
    n = 0
    for fd in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            n += sum(1 for line in fd.read_text().splitlines() if line.startswith("inotify wd:"))
        except OSError:
            continue
    return n


def big_repo(tmp: Path, ns: str, n_files: int) -> Path:
    """A git repository of `n_files` files: 5 services each COPY a source tree of ~n/6 files
    (in 50 folders), on one base; the rest (a sixth) in docs/, read by no image."""
    repo = tmp / f"big-{ns}"
    reg = f"{REG}/bench-{ns}"
    per = n_files // 6
    toml = [f'[project]\nregistry = "{reg}"\njobs = 2\n[cache]\nfrom = ["local"]\n'
            'to = ["local"]\n[base.base]\ndockerfile = "base/Dockerfile"\n']
    (repo / "base").mkdir(parents=True)
    (repo / "base/Dockerfile").write_text("FROM busybox:1.36\nCOPY base/ /base/\n")
    for s in range(5):
        d = repo / f"services/svc-{s}"
        for k in range(per):
            sub = d / "src" / f"pkg{k % 50}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"mod{k}.py").write_text(f"X = {k}\n")
        (d / "Dockerfile").write_text(f"FROM {reg}/base:latest\n"
                                      f"COPY services/svc-{s}/src/ /app/\n")
        toml.append(f'[services.svc-{s}]\ndockerfile = "services/svc-{s}/Dockerfile"\n')
    for k in range(n_files - 5 * per - 2):
        sub = repo / "docs" / f"part{k % 100}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"page{k}.md").write_text(f"# {k}\n")
    (repo / "services.toml").write_text("\n".join(toml))
    (repo / ".gitignore").write_text(".buildorch/\n")
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*GIT, "commit", "-qm", "big"], cwd=repo, check=True)
    return repo


MINE: list[str] = []   # the image namespaces this run made (only those are removed)


def latency(args: argparse.Namespace, tmp: Path) -> tuple[list[float], list[float], float]:
    ns_w, ns_m = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]
    MINE.extend((ns_w, ns_m))
    by_watch, by_hand = demo_repo(tmp, ns_w), demo_repo(tmp, ns_m)
    for repo in (by_watch, by_hand):   # both start up to date
        p = subprocess.run([*BO, "build", "--progress", "plain"], cwd=repo, capture_output=True,
                           text=True)
        if p.returncode != 0:
            raise SystemExit(f"demo build failed:\n{p.stderr[-2000:]}")
    w = Watch(by_watch)
    w.until("round-finished", 600)
    time.sleep(1)
    idle = idle_cpu(w, args.idle)
    app = Path("services") / args.service / "app.py"
    watch_s, hand_s = [], []
    try:
        for i in range(args.runs):
            t0 = time.time()
            with (by_watch / app).open("a") as f:
                f.write(f"# edit {i}\n")
            e = w.until("finished", 300, image=args.service)
            watch_s.append(float(e["time"]) - t0)   # type: ignore[arg-type]
            w.until("round-finished", 300)

            t0 = time.time()
            with (by_hand / app).open("a") as f:
                f.write(f"# edit {i}\n")
            p = subprocess.run([*BO, "service", args.service, "--progress", "json"],
                               cwd=by_hand, capture_output=True, text=True)
            done = [json.loads(line) for line in p.stdout.splitlines()
                    if line.startswith('{"event":"finished"')]
            if p.returncode != 0 or not done:
                raise SystemExit(f"buildorch service failed:\n{p.stderr[-2000:]}")
            hand_s.append(float(done[-1]["time"]) - t0)
    finally:
        w.stop()
    return watch_s, hand_s, idle


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--idle", type=float, default=30.0)
    ap.add_argument("--files", type=int, default=50_000)
    ap.add_argument("--service", default="stt")
    ap.add_argument("--skip-latency", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="watch-bench-") as t:
        tmp = Path(t)
        try:
            if not args.skip_latency:
                watch_s, hand_s, idle_demo = latency(args, tmp)
                print(f"(a) edit -> {args.service} built, demo stack, median of {args.runs}:")
                print(f"    buildorch watch (running)        {statistics.median(watch_s):6.2f} s"
                      f"   runs: {' '.join(f'{x:.2f}' for x in watch_s)}")
                print(f"    buildorch service {args.service} (by hand) "
                      f"{statistics.median(hand_s):6.2f} s"
                      f"   runs: {' '.join(f'{x:.2f}' for x in hand_s)}")
                print(f"(b) idle watch CPU, demo repository: {idle_demo:.3f} % of one core "
                      f"over {args.idle:.0f} s")
            ns = uuid.uuid4().hex[:8]
            MINE.append(ns)
            t0 = time.perf_counter()
            repo = big_repo(tmp, ns, args.files)
            n = int(subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True,
                                   text=True).stdout.count("\n"))
            print(f"    generated {n} files in {time.perf_counter() - t0:.0f} s")
            w = Watch(repo)
            try:
                first = w.until("watching", 600)
                w.until("round-finished", 1800)
                time.sleep(1)
                cpu = idle_cpu(w, args.idle)
                mem = memory(w.proc.pid)
                wd = inotify_watches(w.proc.pid)
            finally:
                w.stop()
            print(f"    idle watch CPU, {n}-file repository: {cpu:.3f} % of one core over "
                  f"{args.idle:.0f} s (target < 1 %); watching {first['files']} files in "
                  f"{first['folders']} folders = {wd} inotify watches")
            print(f"    memory, {n}-file repository: VmRSS {mem['VmRSS'] / 1024:.0f} MiB, "
                  f"peak VmHWM {mem['VmHWM'] / 1024:.0f} MiB")
        finally:
            for ns in MINE:
                remove_images(f"{REG}/bench-{ns}/")


if __name__ == "__main__":
    main()
