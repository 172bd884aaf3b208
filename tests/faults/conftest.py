"""Fixtures of the fault-injection suite: a private engine and a private registry of its own.

Everything here is started by the suite and stopped by it, by pid (never by name): the shared
engine and the shared registry at 127.0.0.1:5000 are never stopped, frozen or pruned.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.engines import EngineError, PrivateEngine
from tests.helpers import need_tool, unavailable


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.faults)


@pytest.fixture
def private_engine(private_engines: Callable[..., PrivateEngine]) -> PrivateEngine:
    """The suite's private engine (containerd store), up: a test that stopped it leaves it to
    be started again. BUILDORCH_FAULTS_ENGINE=NAME uses a kept engine of that name instead
    (development: `python -m tests.engines up NAME containerd`)."""
    if name := os.environ.get("BUILDORCH_FAULTS_ENGINE"):
        eng = PrivateEngine(name, "containerd", keep=True)
        try:
            return eng.up()
        except EngineError as exc:
            unavailable(str(exc))
    return private_engines("faults", "containerd")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PrivateRegistry:
    addr: str
    config: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(["docker-registry", "serve", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", int(self.addr.rsplit(":", 1)[1]))) == 0:
                    return
            time.sleep(0.1)
        raise AssertionError(f"private registry did not listen on {self.addr}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def private_registry(tmp_path: Path) -> Iterator[PrivateRegistry]:
    """A `docker-registry` of this test only, on a free loopback port, storage in tmp_path."""
    need_tool("docker-registry", "Debian: apt-get install docker-registry")
    port = free_port()
    cfg = tmp_path / "registry.yml"
    cfg.write_text(f"""version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: {tmp_path / "registry-data"}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
""")
    reg = PrivateRegistry(f"127.0.0.1:{port}", cfg)
    reg.start()
    yield reg
    reg.stop()
