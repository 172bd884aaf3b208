"""Fixtures of the fault-injection suite: a private engine and a private registry of its own.

Everything here is started by the suite and stopped by it, by pid or by name: the shared engine
and the shared registry at 127.0.0.1:5000 are never stopped, frozen or pruned.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import SESSION

ROOT = Path(__file__).resolve().parents[2]
PRIVATE_ROOT = Path("/var/lib/buildorch-engine/private")   # scripts/engine.sh's, per name
ENGINE_SH = ROOT / "scripts" / "engine.sh"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.faults)


@dataclass
class PrivateEngine:
    name: str
    host: str          # unix://…/docker.sock

    @property
    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": self.host}

    def pid(self) -> int:
        sock = self.host.removeprefix("unix://")
        return int(Path(sock).with_name("docker.pid").read_text().split()[0])

    def up(self) -> None:
        self.host = _engine_sh("private", "up", self.name, "containerd")

    def down(self) -> None:
        _engine_sh("private", "down", self.name)

    def docker(self, *args: str, check: bool = True) -> str:
        return subprocess.run(["docker", *args], env={**os.environ, **self.env}, check=check,
                              capture_output=True, text=True, timeout=120).stdout


def _engine_sh(*args: str) -> str:
    p = subprocess.run(["bash", str(ENGINE_SH), *args], capture_output=True, text=True,
                       timeout=180)
    if p.returncode != 0:
        msg = f"scripts/engine.sh {' '.join(args)} failed: {p.stderr.strip()[-500:]}"
        if os.environ.get("CI") == "true":
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    return p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""


@pytest.fixture(scope="session")
def _private_engine_session() -> Iterator[PrivateEngine]:
    if os.geteuid() != 0:
        msg = "the fault suite's private engine needs root (scripts/engine.sh private up)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    # BUILDORCH_FAULTS_ENGINE reuses an engine already up (development); by default the
    # suite starts its own and stops it at the end.
    name = os.environ.get("BUILDORCH_FAULTS_ENGINE") or f"faults-{SESSION}"
    eng = PrivateEngine(name, "")
    eng.up()
    yield eng
    if not os.environ.get("BUILDORCH_FAULTS_ENGINE"):
        eng.down()
        # its data root is this session's alone (made by `private up` above): leave no trace
        shutil.rmtree(PRIVATE_ROOT / name, ignore_errors=True)


@pytest.fixture
def private_engine(_private_engine_session: PrivateEngine) -> PrivateEngine:
    """The suite's private engine, up (a test that stopped it leaves it to be started again)."""
    eng = _private_engine_session
    ok = subprocess.run(["docker", "info"], env={**os.environ, **eng.env}, capture_output=True,
                        timeout=30).returncode == 0
    if not ok:
        eng.up()
    return eng


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
    if subprocess.run(["which", "docker-registry"], capture_output=True).returncode != 0:
        msg = "docker-registry not installed (Debian: docker-registry)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
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
