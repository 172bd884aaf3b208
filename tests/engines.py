"""Private Docker engines for tests: a second dockerd beside the main one.

Each engine has its own socket, data root, exec root and bridge, and the classic or the
containerd image store. Never `--bridge=none`: a daemon with its bridge disabled deletes the
host's `docker0`, and every RUN step on the main engine then fails; each private engine gets a
bridge of its own instead. Both engines reach the loopback registry.

Layout (the same as `scripts/engine.sh private` had, so that a checkout still running that
script and this module find each other's engines and share one lock):

    /var/lib/buildorch-engine/private/NAME/   daemon.json, dockerd.log, data/, owner
    /run/bo-HASH/                             docker.sock, docker.pid, exec/
    bridge bo-HASH, subnet 172.30.N.0/24      HASH and N from NAME (POSIX cksum)

An engine is stopped by its pid file, never by name. One that a test session owns (`keep=False`)
records that session's pid in `owner`: if the session dies without stopping it, the next session
that asks for a private engine stops it and removes its state and bridge (`reap`).

Also a command for benches and people:
    python -m tests.engines up NAME [classic|containerd]   # prints DOCKER_HOST as the last line
    python -m tests.engines down NAME
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

Store = Literal["classic", "containerd"]
ROOT_IMAGE = os.environ.get("BUILDORCH_ROOT_IMAGE", "busybox:1.36")
PRIVATE_ROOT = Path("/var/lib/buildorch-engine/private")
LOCK = Path("/run/buildorch-engine/lock")      # scripts/engine.sh's lock: one start at a time
START_WAIT_S = float(os.environ.get("BUILDORCH_ENGINE_WAIT", "60"))
STOP_WAIT_S = 30.0


class EngineError(Exception):
    """A private engine could not be started or stopped (the message says why and where)."""


def cksum(data: bytes) -> int:
    """POSIX `cksum` (CRC-32/CKSUM over the data, then its length): the names engine.sh made."""
    crc = 0
    length = len(data)
    tail = b""
    while length:
        tail += bytes([length & 0xFF])
        length >>= 8
    for byte in data + tail:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return ~crc & 0xFFFFFFFF


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _process_start(pid: int) -> str | None:
    """The start time of `pid` (field 22 of /proc/PID/stat), None if no such process runs (a
    zombie does not): with the pid it names one process, so a reused pid is not taken for it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]


def _pid_of_dockerd(pidfile: Path) -> int | None:
    """The pid in `pidfile` if that process lives and is a dockerd (a stale pid file after a
    reboot must not point at someone else)."""
    try:
        pid = int(pidfile.read_text().split()[0])
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except (OSError, ValueError, IndexError):
        return None
    return pid if comm == "dockerd" else None


def _ip(*args: str) -> bool:
    return subprocess.run(["ip", *args], capture_output=True).returncode == 0


class PrivateEngine:
    """A private dockerd named `name` (`[a-z0-9-]+`).

    `data_root` puts its images elsewhere (a small filesystem for disk-full tests); by default
    it lives in its state dir. `keep=True` keeps its data for later sessions (it is never
    reaped; the caller stops its daemon); otherwise the session that starts it owns it.
    `host` and `env` are known before `up()`.
    """

    def __init__(self, name: str, store: Store = "containerd", data_root: Path | None = None,
                 *, keep: bool = False) -> None:
        if not re.fullmatch(r"[a-z0-9-]+", name):
            raise ValueError(f"private engine name must be [a-z0-9-]+: {name!r}")
        if store not in ("classic", "containerd"):
            raise ValueError(f"store must be classic or containerd: {store!r}")
        self.name, self.store, self.keep = name, store, keep
        self.state_dir = PRIVATE_ROOT / name
        self.data_root = data_root or self.state_dir / "data"
        # Short names: IFNAMSIZ is 15 and a unix socket path at most 108 bytes.
        crc = cksum(name.encode())
        short = f"{crc} {len(name)}"[:8].strip()
        self.run_dir = Path(f"/run/bo-{short}")
        self.bridge = f"bo-{short}"
        self.subnet = f"172.30.{crc % 200 + 30}"
        self.host = f"unix://{self.run_dir}/docker.sock"

    def __repr__(self) -> str:
        return f"PrivateEngine({self.name!r}, {self.store!r}, host={self.host!r})"

    @property
    def env(self) -> dict[str, str]:
        """What to add to a subprocess's environment to talk to this engine."""
        return {"DOCKER_HOST": self.host}

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "docker.pid"

    def pid(self) -> int:
        """dockerd's pid; EngineError if it does not run."""
        pid = _pid_of_dockerd(self.pidfile)
        if pid is None:
            raise EngineError(f"private engine {self.name} is not running ({self.pidfile})")
        return pid

    def answers(self, timeout: float = 10) -> bool:
        try:
            return subprocess.run(["docker", "info"], env={**os.environ, **self.env},
                                  capture_output=True, timeout=timeout).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def docker(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        """`docker ARGS` against this engine; its stdout."""
        return subprocess.run(["docker", *args], env={**os.environ, **self.env}, check=check,
                              capture_output=True, text=True, timeout=timeout).stdout

    def up(self) -> PrivateEngine:
        """Start it unless it runs and answers (idempotent), with the root image loaded."""
        if os.geteuid() != 0:
            raise EngineError("a private engine needs root (it runs its own dockerd)")
        if shutil.which("dockerd") is None:
            raise EngineError("dockerd not found: run `bash scripts/engine.sh up` first")
        with _locked():
            if _pid_of_dockerd(self.pidfile) is None or not self.answers():
                self._start()
        self._load_root_image()
        return self

    def _start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.data_root.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "exec").mkdir(parents=True, exist_ok=True)
        owner = self.state_dir / "owner"
        if self.keep:
            owner.unlink(missing_ok=True)
        else:   # written before dockerd starts: a crash from here on is reaped
            owner.write_text(json.dumps({"pid": os.getpid(),
                                         "start": _process_start(os.getpid()),
                                         "data_root": str(self.data_root)}))
        features = {"features": {"containerd-snapshotter": True}} if self.store == "containerd" \
            else {}
        (self.state_dir / "daemon.json").write_text(json.dumps(features) + "\n")
        if not _ip("link", "show", self.bridge):
            if not _ip("link", "add", "name", self.bridge, "type", "bridge"):
                raise EngineError(f"cannot make bridge {self.bridge} for private engine "
                                  f"{self.name} (needs root and a kernel with bridges)")
            _ip("addr", "add", f"{self.subnet}.1/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        log = self.state_dir / "dockerd.log"
        argv = ["dockerd", "--config-file", str(self.state_dir / "daemon.json"),
                "--host", self.host, "--data-root", str(self.data_root),
                "--exec-root", str(self.run_dir / "exec"), "--pidfile", str(self.pidfile),
                f"--bridge={self.bridge}", "--iptables=false", "--ip6tables=false",
                "--ip-forward=false", "--exec-opt=native.cgroupdriver=cgroupfs"]
        with log.open("a") as f:
            f.write(f"\n==== {time.strftime('%F %T')} tests.engines starting {self.name} "
                    f"({self.store} store)\n")
            f.flush()
            # Its own session: a ^C aimed at pytest's process group does not reach it.
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=f,
                                    start_new_session=True)
        deadline = time.monotonic() + START_WAIT_S
        while not self.answers():
            if proc.poll() is not None or time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait()
                tail = "".join(log.read_text(errors="replace").splitlines(True)[-5:])
                raise EngineError(f"private engine {self.name} did not answer at {self.host} "
                                  f"within {START_WAIT_S:.0f}s; log {log}:\n{tail}")
            time.sleep(0.3)

    def _load_root_image(self) -> None:
        if subprocess.run(["docker", "image", "inspect", ROOT_IMAGE], capture_output=True,
                          env={**os.environ, **self.env}, timeout=20).returncode == 0:
            return
        # From the engine the session talks to by default (never from this one).
        main_env = {k: v for k, v in os.environ.items()
                    if not (k == "DOCKER_HOST" and v == self.host)}
        save = subprocess.Popen(["docker", "save", ROOT_IMAGE], env=main_env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        load = subprocess.run(["docker", "load", "-q"], stdin=save.stdout,
                              env={**os.environ, **self.env}, capture_output=True, text=True,
                              timeout=120)
        assert save.stdout is not None
        save.stdout.close()
        if save.wait(60) != 0 or load.returncode != 0:
            raise EngineError(f"could not load {ROOT_IMAGE} into private engine {self.name}: "
                              f"{load.stderr.strip()[-300:]} (is it on the main engine? "
                              "`bash scripts/engine.sh up` makes it)")

    def down(self) -> None:
        """Stop it by its pid file (TERM, then KILL after 30 s) and remove its bridge."""
        with _locked():
            self._stop()

    def _stop(self) -> None:
        pid = _pid_of_dockerd(self.pidfile)
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_WAIT_S
            while _process_start(pid) is not None and time.monotonic() < deadline:
                time.sleep(0.2)
            if _process_start(pid) is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)
        if _ip("link", "show", self.bridge):
            _ip("link", "del", self.bridge)

    def remove(self) -> None:
        """Stop it and delete its state dir and data root: nothing of it is left."""
        with _locked():
            self._stop()
            self._forget()

    def _forget(self) -> None:
        shutil.rmtree(self.data_root, ignore_errors=True)
        shutil.rmtree(self.state_dir, ignore_errors=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)


def reap() -> list[str]:
    """Stop and remove the private engines whose owning session is gone (a crash, kill -9);
    never one kept on purpose, never one whose owner still runs. Returns their names."""
    if not PRIVATE_ROOT.is_dir():
        return []
    reaped = []
    with _locked():
        for owner in sorted(PRIVATE_ROOT.glob("*/owner")):
            try:
                rec = json.loads(owner.read_text())
                pid, start, data_root = int(rec["pid"]), rec["start"], Path(rec["data_root"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if _process_start(pid) == start and start is not None:
                continue
            eng = PrivateEngine(owner.parent.name, data_root=data_root)
            eng._stop()
            eng._forget()
            reaped.append(eng.name)
    return reaped


def main(argv: list[str]) -> int:
    usage = "usage: python -m tests.engines up NAME [classic|containerd] | down NAME"
    if len(argv) < 2 or argv[0] not in ("up", "down") or len(argv) > 3:
        print(usage, file=sys.stderr)
        return 2
    store = argv[2] if len(argv) > 2 else "classic"
    try:
        eng = PrivateEngine(argv[1], store, keep=True)   # type: ignore[arg-type]
        if argv[0] == "up":
            eng.up()
            print(f"private engine {eng.name}: dockerd pid {eng.pid()}, {eng.store} store, "
                  f"bridge {eng.bridge}, log {eng.state_dir / 'dockerd.log'}", file=sys.stderr)
            print(eng.host)
        else:
            eng.down()
    except (EngineError, ValueError) as exc:
        print(f"tests.engines: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
