"""`buildorch watch` as a user runs it: a subprocess on a real git repository, real edits on
disk, real BuildKit builds; its JSON lines say when a round starts and ends.

Every wait is bounded: a watch that never reacts fails the test, it never hangs it.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import PREFIX, docker, git, manifest, run_bo, write_files

pytestmark = pytest.mark.usefixtures("engine")

Event = dict[str, Any]


def small_stack(ns: str, slow: int = 0) -> dict[str, str]:
    """base -> svc-a, svc-b; `lone` on the root image. `slow.txt` holds how long base's RUN
    sleeps (an edit to it makes base take that long)."""
    reg = f"{PREFIX}{ns}"
    files = {
        "services.toml": f"""
[project]
registry = "{reg}"
jobs = 2
[cache]
from = ["local"]
to = ["local"]
[tiers.foundation]
[tiers.services]
[base.base]
tier = "foundation"
dockerfile = "images/base.Dockerfile"
[services.svc-a]
dockerfile = "services/svc-a/Dockerfile"
[services.svc-b]
dockerfile = "services/svc-b/Dockerfile"
[services.lone]
dockerfile = "services/lone/Dockerfile"
""",
        "images/base.Dockerfile": "FROM busybox:1.36\nCOPY base.txt slow.txt /\n"
                                  "RUN sleep $(cat /slow.txt)\n",
        "base.txt": "base\n",
        "slow.txt": f"{slow}\n",
        ".dockerignore": ".git\n.buildorch\n",
        ".gitignore": ".buildorch/\n",
        "README.md": "read by no image\n",
    }
    for s, parent in (("svc-a", f"{reg}/base:latest"), ("svc-b", f"{reg}/base:latest"),
                      ("lone", "busybox:1.36")):
        files[f"services/{s}/Dockerfile"] = f"FROM {parent}\nCOPY services/{s}/ /app/\n"
        files[f"services/{s}/app.txt"] = f"{s} {ns}\n"
    return files


@pytest.fixture
def repo(make_repo: Callable[..., Path]) -> Path:
    ns = uuid.uuid4().hex[:10]
    return make_repo(small_stack(ns), name=f"repo-{ns}")


def registry_of(repo: Path) -> str:
    text = (repo / "services.toml").read_text()
    return text.split('registry = "', 1)[1].split('"', 1)[0]


class Watch:
    """`buildorch watch ARGS --progress json` in `repo`, its stdout read on a thread."""

    def __init__(self, repo: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "buildorch", "watch", *args, "--progress", "json"],
            cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True)   # a signal to it alone, never to pytest
        self.lines: queue.Queue[Event | None] = queue.Queue()
        self.seen: list[Event] = []
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self._err_reader = threading.Thread(target=self._read_err, daemon=True)
        self._err_reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.lines.put(json.loads(line))
        self.lines.put(None)

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        self.stderr.extend(self.proc.stderr)

    def story(self) -> str:
        rows = [f"  {e['event']:<15} {json.dumps({k: v for k, v in e.items() if k not in ('event', 'time', 'log_tail')})[:200]}"  # noqa: E501
                for e in self.seen if e["event"] != "step"][-40:]
        return "events:\n" + "\n".join(rows) + "\nstderr:\n" + "".join(self.stderr[-20:])

    def next(self, kind: str, timeout: float = 120) -> Event:
        """The next event of `kind` (every event before it is kept in `seen`)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                e = self.lines.get(timeout=max(left, 0.01))
            except queue.Empty:
                raise AssertionError(f"no {kind} event in {timeout}s\n{self.story()}") from None
            if e is None:
                self.lines.put(None)
                raise AssertionError(f"watch exited ({self.proc.poll()}) before a {kind} "
                                     f"event\n{self.story()}")
            self.seen.append(e)
            if e["event"] == kind:
                return e

    def round(self, timeout: float = 120) -> tuple[Event, list[Event], Event]:
        """The next whole round: its start, the build events in it, its end."""
        start = self.next("round-started", timeout)
        mark = len(self.seen)
        end = self.next("round-finished", timeout)
        return start, self.seen[mark:-1], end

    def quiet(self, seconds: float) -> list[Event]:
        """Every event within `seconds` (none expected when nothing should happen)."""
        got: list[Event] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                e = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if e is None:
                self.lines.put(None)
                break
            self.seen.append(e)
            got.append(e)
        return got

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._err_reader.join(10)   # all of stderr read once the process is gone
        return self.proc.returncode


@pytest.fixture
def watch() -> Iterator[Callable[..., Watch]]:
    started: list[Watch] = []

    def start(repo: Path, *args: str) -> Watch:
        w = Watch(repo, *args)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def built(events: list[Event]) -> list[str]:
    return sorted(str(e["image"]) for e in events if e["event"] == "finished")


def edit(path: Path, text: str) -> None:
    path.write_text(text)


def test_an_edit_builds_exactly_what_it_makes_stale(repo: Path,
                                                    watch: Callable[..., Watch]) -> None:
    w = watch(repo)
    watching = w.next("watching", 60)
    assert watching["images"] == ["base", "lone", "svc-a", "svc-b"]
    assert "planned again" in watching["policy"]
    _, events, end = w.round()
    assert built(events) == ["base", "lone", "svc-a", "svc-b"] and end["ok"], w.story()

    edit(repo / "services/svc-a/app.txt", "svc-a, edited\n")
    start, events, end = w.round(60)
    assert start["changed"] == ["services/svc-a/app.txt"]
    assert built(events) == ["svc-a"] and end["built"] == ["svc-a"], w.story()
    out = docker("run", "--rm", f"{registry_of(repo)}/svc-a:latest", "cat", "/app/app.txt")
    assert out == "svc-a, edited\n"

    # A base edit: the base and its descendants among the watched images, nothing else.
    edit(repo / "base.txt", "base, edited\n")
    _, events, end = w.round(60)
    assert built(events) == ["base", "svc-a", "svc-b"], w.story()
    assert docker("run", "--rm", f"{registry_of(repo)}/svc-b:latest", "cat",
                  "/base.txt") == "base, edited\n"
    # what watch recorded is what a plain build finds up to date
    rc, ev, err = run_bo(repo, "build")
    assert rc == 0 and built(ev) == [], err


def test_selected_images_a_base_edit_builds_their_line_only(
        repo: Path, watch: Callable[..., Watch]) -> None:
    w = watch(repo, "svc-a")
    assert w.next("watching", 60)["images"] == ["base", "svc-a"]
    _, events, _ = w.round()
    assert built(events) == ["base", "svc-a"], w.story()
    edit(repo / "base.txt", "base 2\n")
    _, events, _ = w.round(60)
    assert built(events) == ["base", "svc-a"], w.story()
    # svc-b reads nothing svc-a's line does: its edit is no round
    edit(repo / "services/svc-b/app.txt", "b 2\n")
    assert [e for e in w.quiet(3) if e["event"] == "round-started"] == [], w.story()


def test_a_burst_of_200_writes_is_one_round(repo: Path, watch: Callable[..., Watch]) -> None:
    w = watch(repo)
    w.round()
    for i in range(200):
        (repo / f"services/svc-a/gen-{i:03}.txt").write_text(f"{i}\n")
    start, events, end = w.round(60)
    assert built(events) == ["svc-a"] and end["ok"], w.story()
    assert len(start["changed"]) == 200
    later = w.quiet(3)
    assert [e for e in later if e["event"] == "round-started"] == [], w.story()
    # a git checkout of many files: one round as well
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "200 files")
    git(repo, "checkout", "-q", "HEAD~1")
    _, events, _ = w.round(60)
    assert built(events) == ["svc-a"], w.story()
    assert [e for e in w.quiet(3) if e["event"] == "round-started"] == [], w.story()


def test_what_no_image_reads_starts_no_round(repo: Path, watch: Callable[..., Watch]) -> None:
    w = watch(repo)
    w.round()
    edit(repo / "README.md", "edited\n")                 # in a watched folder, read by none
    (repo / "notes").mkdir()
    (repo / "notes/todo.txt").write_text("x\n")          # a new folder no image reads
    (repo / ".buildorch/scratch").write_text("x\n")      # buildorch's own state
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "notes")             # .git/ churns
    quiet = w.quiet(4)
    assert [e for e in quiet if e["event"] == "round-started"] == [], w.story()
    # .dockerignore edits recompute what is read: an excluded file is no longer a trigger
    edit(repo / ".dockerignore", ".git\n.buildorch\nservices/svc-a/*.md\n")
    start, _, end = w.round(60)
    assert start["changed"] == [".dockerignore"] and end["ok"], w.story()
    (repo / "services/svc-a/NOTES.md").write_text("not sent to the build\n")
    assert [e for e in w.quiet(3) if e["event"] == "round-started"] == [], w.story()
    # ...and the watcher is alive: a read file still starts one
    edit(repo / "services/lone/app.txt", "lone 2\n")
    _, events, _ = w.round(60)
    assert built(events) == ["lone"], w.story()


def test_services_toml_edit_recomputes_what_is_watched(
        repo: Path, watch: Callable[..., Watch]) -> None:
    write_files(repo, {"services/svc-c/Dockerfile": "FROM busybox:1.36\nCOPY services/svc-c/ /c/\n",
                       "services/svc-c/app.txt": "c\n"})
    w = watch(repo)
    w.round()
    edit(repo / "services/svc-c/app.txt", "c 2\n")        # not an image yet: no round
    assert [e for e in w.quiet(3) if e["event"] == "round-started"] == [], w.story()
    with (repo / "services.toml").open("a") as f:
        f.write('[services.svc-c]\ndockerfile = "services/svc-c/Dockerfile"\n')
    _, events, _ = w.round(60)
    assert built(events) == ["svc-c"], w.story()
    edit(repo / "services/svc-c/app.txt", "c 3\n")
    _, events, _ = w.round(60)
    assert built(events) == ["svc-c"], w.story()
    # a broken services.toml: said, no round, still watching; fixed: builds again
    good = (repo / "services.toml").read_text()
    edit(repo / "services.toml", good + "[services.svc-d]\ndockerfle = 1\n")
    notice = w.next("notice", 30)
    assert "services.toml" in notice["message"] and "still watching" in notice["message"]
    edit(repo / "services.toml", good)
    edit(repo / "services/svc-c/app.txt", "c 4\n")
    _, events, _ = w.round(60)
    assert built(events) == ["svc-c"], w.story()


def test_an_edit_during_a_round_ends_as_a_plain_build_would(
        repo: Path, watch: Callable[..., Watch]) -> None:
    w = watch(repo)
    w.round()
    edit(repo / "slow.txt", "6\n")                        # base now takes 6 s
    w.next("round-started", 60)
    w.next("started", 30)                                 # base is building
    edit(repo / "services/svc-a/app.txt", "edited while base builds\n")
    end = w.next("round-finished", 60)
    assert end["built"] == ["base"], w.story()
    assert sorted(end["replanned"]) == ["svc-a", "svc-b"], w.story()
    _, events, end = w.round(60)
    assert built(events) == ["svc-a", "svc-b"] and end["ok"], w.story()
    # the same images and manifest as a plain build: it finds nothing to do...
    before = manifest(repo)
    rc, ev, err = run_bo(repo, "build")
    assert rc == 0 and built(ev) == [] and manifest(repo) == before, err
    # ...and each child holds the edit and was built on the new parent
    reg = registry_of(repo)
    assert docker("run", "--rm", f"{reg}/svc-a:latest", "cat", "/app/app.txt",
                  "/slow.txt") == "edited while base builds\n6\n"
    assert docker("run", "--rm", f"{reg}/svc-b:latest", "cat", "/slow.txt") == "6\n"


def _running(pid: int) -> bool:
    """Still there and not a zombie: a child that already exited, whose exit status init has
    not collected yet (it was handed to init when watch ended), runs nothing."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return not any(line.startswith("State:") and "Z" in line.split()[1]
                   for line in status.splitlines())


def _children(pid: int) -> set[int]:
    out = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.add(int(d.name))
    return out


def test_ctrl_c_during_a_round_exits_130_consistent_and_alone(
        repo: Path, watch: Callable[..., Watch]) -> None:
    w = watch(repo)
    w.round()
    edit(repo / "slow.txt", "60\n")
    edit(repo / "services/lone/app.txt", "lone 2\n")
    w.next("round-started", 60)
    w.next("started", 30)
    time.sleep(1)
    kids = _children(w.proc.pid)
    assert kids, "buildx should be running under watch"
    # a concurrent build is told that watch is building
    p = subprocess.run([sys.executable, "-m", "buildorch", "build"], cwd=repo,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and f"buildorch watch (pid {w.proc.pid}) is building" in p.stderr
    t0 = time.monotonic()
    assert w.stop() == 130, w.story()
    assert time.monotonic() - t0 < 20
    assert not [k for k in kids if _running(k)], "children left running"
    data = manifest(repo)   # parses: never half-written
    images = data["images"]
    assert isinstance(images, dict)
    # base was interrupted: it and its children are still stale for the next run
    stale = {s["name"] for s in json.loads(subprocess.run(
        [sys.executable, "-m", "buildorch", "plan", "--json"], cwd=repo, capture_output=True,
        text=True, timeout=60).stdout)["stale"]}
    assert {"base", "svc-a", "svc-b"} <= stale


@pytest.fixture
def compose_project(repo: Path) -> Iterator[str]:
    name = f"bo-test-{uuid.uuid4().hex[:8]}"
    yield name
    docker("compose", "-p", name, "down", "--remove-orphans", "-t", "0", check=False, cwd=repo)


def test_up_recreates_only_the_rebuilt_running_service(
        repo: Path, watch: Callable[..., Watch], compose_project: str) -> None:
    reg = registry_of(repo)
    services = "".join(
        f"  {svc}:\n    image: {reg}/{img}:latest\n    command: [\"sleep\", \"600\"]\n"
        f"    network_mode: none\n    stop_signal: SIGKILL\n"
        f"    labels: [\"bo-test={compose_project}\"]\n"
        for svc, img in (("svc-a", "svc-a"), ("svc-b", "svc-b"), ("lone", "lone"),
                         ("idle", "svc-a")))
    (repo / "compose.yaml").write_text(f"name: {compose_project}\nservices:\n{services}")
    assert run_bo(repo, "build")[0] == 0
    docker("compose", "up", "-d", "svc-a", "svc-b", "lone", cwd=repo)

    def ids() -> dict[str, str]:
        out = docker("compose", "ps", "-a", "--format", "{{.Service}} {{.ID}} {{.State}}",
                     cwd=repo)
        return {line.split()[0]: " ".join(line.split()[1:]) for line in out.splitlines()}

    before = ids()
    assert set(before) == {"svc-a", "svc-b", "lone"}
    w = watch(repo, "--up")
    _, _, end = w.round()
    assert end["built"] == [] and end["restarted"] == [] and ids() == before, w.story()

    edit(repo / "services/svc-a/app.txt", "svc-a 2\n")
    _, _, end = w.round(60)
    assert end["built"] == ["svc-a"] and end["restarted"] == ["svc-a"], w.story()
    after = ids()
    assert after["svc-a"] != before["svc-a"] and after["svc-a"].endswith("running")
    assert after["svc-b"] == before["svc-b"] and after["lone"] == before["lone"]
    assert "idle" not in after   # it runs svc-a's image, but was not running: not started
    assert docker("compose", "exec", "-T", "svc-a", "cat", "/app/app.txt",
                  cwd=repo) == "svc-a 2\n"

    # a failed build restarts nothing: the old container keeps running
    edit(repo / "services/svc-a/Dockerfile",
         f"FROM {reg}/base:latest\nCOPY services/svc-a/ /app/\nRUN false\n")
    _, _, end = w.round(60)
    assert not end["ok"] and end["failed"] == ["svc-a"] and end["restarted"] == [], w.story()
    assert ids() == after
    # the edit that fixes it builds and restarts again
    edit(repo / "services/svc-a/Dockerfile",
         f"FROM {reg}/base:latest\nCOPY services/svc-a/ /app/\nRUN true\n")
    _, _, end = w.round(60)
    assert end["ok"] and end["built"] == ["svc-a"] and end["restarted"] == ["svc-a"], w.story()
    final = ids()
    assert final["svc-a"] != after["svc-a"] and final["svc-b"] == before["svc-b"]


def test_watch_is_one_per_repository(repo: Path, watch: Callable[..., Watch]) -> None:
    w = watch(repo)
    w.round()
    p = subprocess.run([sys.executable, "-m", "buildorch", "watch"], cwd=repo,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert f"buildorch watch is already running in this repository (pid {w.proc.pid})" \
        in p.stderr
    assert "Traceback" not in p.stderr
    # between rounds, a plain build runs (and waits for nobody)
    rc, _, err = run_bo(repo, "build")
    assert rc == 0, err
    assert os.path.exists(repo / ".buildorch/watch.lock")
    # ^C between rounds: 130 at once, nothing said but that
    t0 = time.monotonic()
    assert w.stop() == 130 and time.monotonic() - t0 < 5
    assert "".join(w.stderr).strip() == "buildorch: interrupted"


def test_a_round_waits_for_a_build_that_holds_the_lock(
        repo: Path, watch: Callable[..., Watch]) -> None:
    w = watch(repo)
    w.round()
    # another buildorch build, as far as the lock is concerned: holds it for 4 s
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        "f = open(sys.argv[1], 'a+'); fcntl.flock(f, fcntl.LOCK_EX)\n"
        "f.seek(0); f.truncate(); f.write(f'{os.getpid()}\\n'); f.flush()\n"
        "print('held', flush=True); time.sleep(4)\n"), str(repo / ".buildorch/build.lock")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        edit(repo / "services/svc-b/app.txt", "b 2\n")
        notice = w.next("notice", 30)
        assert notice["message"].startswith("waiting: another buildorch build is running") \
            and f"pid {holder.pid}" in notice["message"], w.story()
        end = w.next("round-finished", 60)
        assert end["built"] == ["svc-b"] and holder.poll() is not None, w.story()
    finally:
        holder.kill()
        holder.wait()


def test_a_folder_removed_and_made_again_is_watched_again(
        repo: Path, watch: Callable[..., Watch]) -> None:
    import shutil

    w = watch(repo)
    w.round()
    saved = {p.name: p.read_text() for p in (repo / "services/svc-a").iterdir()}
    shutil.rmtree(repo / "services/svc-a")     # as a checkout that empties a folder does
    (repo / "services/svc-a").mkdir()
    for name, text in saved.items():
        (repo / "services/svc-a" / name).write_text(
            "svc-a again\n" if name == "app.txt" else text)
    _, events, _ = w.round(60)
    assert built(events) == ["svc-a"], w.story()
    edit(repo / "services/svc-a/app.txt", "svc-a, third\n")   # a new inode: watched anew
    _, events, _ = w.round(60)
    assert built(events) == ["svc-a"], w.story()


def test_a_folder_removed_then_made_again_later_is_seen(
        repo: Path, watch: Callable[..., Watch]) -> None:
    import shutil

    w = watch(repo)
    w.round()
    saved = {p.name: p.read_text() for p in (repo / "services/svc-a").iterdir()}
    shutil.rmtree(repo / "services/svc-a")     # services/ itself holds no file an image reads
    _, events, end = w.round(60)               # what is gone: said as a build says it
    assert built(events) == [] and not end["ok"], w.story()
    assert "dockerfile 'services/svc-a/Dockerfile' does not exist" in end["error"], w.story()
    time.sleep(0.5)
    (repo / "services/svc-a").mkdir()          # back, in a later burst
    for name, text in saved.items():
        (repo / "services/svc-a" / name).write_text(
            "svc-a back\n" if name == "app.txt" else text)
    rounds = []
    while True:   # the folder's return, then its files: one round or two, never none
        _, events, _ = w.round(60)
        rounds.append(built(events))
        if "svc-a" in rounds[-1]:
            break
    assert rounds[-1] == ["svc-a"], w.story()
    out = docker("run", "--rm", f"{registry_of(repo)}/svc-a:latest", "cat", "/app/app.txt")
    assert out == "svc-a back\n"
