"""The tests' private engines themselves (tests/engines.py): what they leave behind when the
session that started them is killed, and what they never touch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.engines import PRIVATE_ROOT, PrivateEngine, reap
from tests.helpers import SESSION, unavailable

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _root(engine: None) -> None:
    if os.geteuid() != 0:
        unavailable("private engines need root (they run their own dockerd)")


def _bridge_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0


def test_an_engine_whose_session_was_killed_is_stopped_and_removed_by_the_next() -> None:
    name = f"reap-{SESSION}"
    code = ("import sys, time\nfrom tests.engines import PrivateEngine\n"
            f"e = PrivateEngine({name!r}, 'classic').up()\n"
            "print(e.pid(), flush=True)\ntime.sleep(600)\n")
    session = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                               text=True)
    eng = PrivateEngine(name, "classic")
    try:
        assert session.stdout is not None
        dockerd = int(session.stdout.readline())
        assert eng.answers() and _bridge_exists(eng.bridge)
        assert eng.docker("image", "inspect", "--format", "ok", "busybox:1.36").strip() == "ok"
        assert reap() == []                        # its session still runs: not touched
        assert eng.pid() == dockerd
        session.send_signal(signal.SIGKILL)        # the session dies without cleaning up
        session.wait()
        assert eng.answers()                       # its own session: the kill did not reach it
        assert name in reap()
        deadline = time.monotonic() + 5
        while Path(f"/proc/{dockerd}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(f"/proc/{dockerd}").exists() and not eng.answers(timeout=3)
        assert not _bridge_exists(eng.bridge)
        assert not eng.state_dir.exists() and not eng.run_dir.exists()
        # the main engine's bridge outlives a private engine's stop (never --bridge=none)
        assert _bridge_exists("docker0")
        assert name not in reap()
    finally:
        if session.poll() is None:
            session.kill()
            session.wait()
        eng.remove()


def test_reap_leaves_kept_engines_and_live_owners_alone() -> None:
    live = PRIVATE_ROOT / f"live-{SESSION}"
    kept = PRIVATE_ROOT / f"kept-{SESSION}"
    dead = PRIVATE_ROOT / f"dead-{SESSION}"
    try:
        for d in (live, kept, dead):
            (d / "data").mkdir(parents=True)
        me = Path(f"/proc/{os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()[19]
        (live / "owner").write_text(json.dumps({"pid": os.getpid(), "start": me,
                                                "data_root": str(live / "data")}))
        # the same pid, another start time: a pid reused after the owner died is no owner
        (dead / "owner").write_text(json.dumps({"pid": os.getpid(), "start": "1",
                                                "data_root": str(dead / "data")}))
        reaped = reap()
        assert f"dead-{SESSION}" in reaped and not dead.exists()
        assert f"live-{SESSION}" not in reaped and (live / "data").is_dir()
        assert f"kept-{SESSION}" not in reaped and (kept / "data").is_dir()
    finally:
        for d in (live, kept, dead):
            PrivateEngine(d.name).remove()
