"""The `docker buildx build` process of one image (its argv from `spec.py`): rawjson progress
-> step events, a log, and a result that says whether a retry may help.

The build runs in its own process group so that a terminal ^C reaches only us; we stop it
ourselves (INT -> TERM -> KILL) when cancelled or past a time limit. On Linux it also gets
SIGINT the moment buildorch dies, even by kill -9 (PR_SET_PDEATHSIG): the docker CLI then stops
its buildx plugin gracefully, which leaves the engine's store clean.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import ctypes.util
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from buildorch.edges import proc
from buildorch.running.events import Event, Step, Warned, is_dockerfile_step
from buildorch.running.spec import BuildSpec, argv
from buildorch.units import format_duration as _dur

GRACE_INT_S = 3.0
GRACE_TERM_S = 2.0
TAIL_LINES = 25

# A Dockerfile step: "[2/4] RUN ...", "[stage-1 3/5] COPY ..." (FROM steps are resolutions).
_TRANSIENT_RE = re.compile(
    r"(?i)(?:\b50[0-4]\b[^\n]*(?:server error|bad gateway|unavailable|gateway timeout)|"
    r"connection reset by peer|i/o timeout|tls handshake timeout|failed to do request|"
    r"unexpected EOF|connection refused|TLS handshake|toomanyrequests|429 Too Many Requests|"
    # containerd image store under concurrent exports (Engine 26): the retry succeeds.
    r"failed to prepare extraction snapshot|parent snapshot \S+ does not exist)")
# What an export interrupted by a killed client leaves in the containerd image store: the same
# content then fails to commit again until it is built without the cache (issue 9, measured).
_INTERRUPTED_EXPORT_RE = re.compile(
    r"(?i)failed to commit\b[^\n]*snapshot|failed to stat active key during commit|"
    r"during finalize:[^\n]*snapshot")
_BUILD_ERROR_RE = re.compile(r"did not complete successfully|dockerfile parse error"
                             r"|failed to compute cache key")


_NOT_FOUND_RE = re.compile(r"(?i)not found|no such file|does not exist|manifest unknown")


def _source(vertex: str) -> str:
    """`importing cache manifest from 127.0.0.1:5000/x:buildcache` -> the source."""
    m = re.search(r"\b(?:from|to)\s+(\S+)", vertex)
    return m.group(1) if m else vertex


def is_interrupted_export(output: str) -> bool:
    """The `failed to commit … snapshot` family: an earlier export was cut off mid-way."""
    return bool(_INTERRUPTED_EXPORT_RE.search(output))


def is_transient(output: str) -> bool:
    """A fault worth another try (registry 5xx, resets, TLS/i/o timeouts, a failed request,
    the containerd store's snapshot race) and not a build error (a RUN that failed, a
    Dockerfile that does not parse), which a retry would only repeat."""
    return bool(_TRANSIENT_RE.search(output)) and not _BUILD_ERROR_RE.search(output)


def _ts(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    # BuildKit prints RFC 3339 with nanoseconds; Python takes at most microseconds.
    m = re.match(r"^(.*?\.\d{1,6})\d*(Z|[+-]\d\d:\d\d)$", value)
    text = f"{m.group(1)}{m.group(2)}" if m else value
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass
class Progress:
    """Folds rawjson status lines into step events, a readable log and counts."""

    image: str
    emit: Callable[[Event], None]
    log: Callable[[str], None]
    vertices: dict[str, dict[str, object]] = field(default_factory=dict)
    numbers: dict[str, int] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    error_lines: list[str] = field(default_factory=list)   # buildx's own "ERROR: ..." lines
    warnings: list[str] = field(default_factory=list)
    running: dict[str, float] = field(default_factory=dict)   # step name -> local start time
    vertex_logs: dict[str, list[str]] = field(default_factory=dict)
    steps: int = 0
    cached_steps: int = 0

    def feed(self, line: str) -> None:
        try:
            status = json.loads(line)
        except ValueError:
            self.log(line.rstrip("\n"))
            if line.startswith("ERROR:"):
                self.error_lines.append(line[len("ERROR:"):].strip())
            if line.startswith("WARNING:") and "cache" in line:
                self.warnings.append(line[len("WARNING:"):].strip())
            return
        if not isinstance(status, dict):
            return
        for v in status.get("vertexes") or ():
            self._vertex(v)
        for lg in status.get("logs") or ():
            n = self.numbers.get(str(lg.get("vertex")), 0)
            with contextlib.suppress(ValueError, TypeError):
                text = base64.b64decode(lg.get("data") or "").decode("utf-8", "replace")
                kept = self.vertex_logs.setdefault(str(lg.get("vertex")), [])
                for part in text.splitlines():
                    self.log(f"#{n} {part}")
                    kept.append(part)
                del kept[:-5]
        for w in status.get("warnings") or ():
            with contextlib.suppress(ValueError, TypeError):
                msg = base64.b64decode(w.get("short") or "").decode("utf-8", "replace")
                self.warnings.append(msg)
                self.log(f"WARNING: {msg}")

    def _vertex(self, v: dict[str, object]) -> None:
        digest = str(v.get("digest"))
        prev = self.vertices.setdefault(digest, {})
        prev.update({k: x for k, x in v.items() if x is not None})
        name = str(prev.get("name", digest))
        if digest not in self.numbers:
            self.numbers[digest] = len(self.numbers) + 1
            self.log(f"#{self.numbers[digest]} {name}")
        if prev.get("started") and not prev.get("completed") and digest not in self.running:
            self.running[digest] = time.monotonic()
        finished = bool(prev.get("completed")) or bool(prev.get("cached")) or \
            bool(prev.get("error"))
        if not finished or digest in self.done:
            return
        self.done.add(digest)
        self.running.pop(digest, None)
        cached = bool(prev.get("cached"))
        error = str(prev["error"]) if prev.get("error") else None
        n = self.numbers[digest]
        if error and name.startswith("importing cache"):
            # A cache source that is not there yet (first build) fails this vertex while the
            # build goes on: say so in the stats, do not count it as the build's error. Any
            # other failure (registry down, denied) is said in the run, once, with its reason.
            self.warnings.append(f"cache import failed: {name}: {error}")
            self.log(f"#{n} CACHE IMPORT FAILED: {error}")
            if not _NOT_FOUND_RE.search(error):
                self.emit(Warned(self.image, f"cache import failed ({_source(name)}): "
                                 f"{error}; building without that cache"))
            return
        if error and name.startswith("exporting cache"):
            reason = self._vertex_reason(digest, error)
            self.warnings.append(f"cache export failed: {name}: {reason}")
            self.emit(Warned(self.image, f"cache export failed ({_source(name)}): {reason}; "
                             "the image is built, the next build may miss that cache"))
        if error:
            self.errors.append(f"{name}: {error}")
            self.log(f"#{n} ERROR: {error}")
        else:
            self.log(f"#{n} {'CACHED' if cached else 'DONE'}")
        if is_dockerfile_step(name):
            self.steps += 1
            self.cached_steps += cached
        self.emit(Step(self.image, name=name, started=_ts(prev.get("started")),
                       completed=_ts(prev.get("completed")), cached=cached, error=error))

    def _vertex_reason(self, digest: str, error: str) -> str:
        """BuildKit's error for an export is often generic; its own log lines say why."""
        lines = self.vertex_logs.get(digest, [])
        why = next((ln for ln in reversed(lines) if ln.strip()), "")
        return f"{error}: {why.strip()}" if why and why.strip() not in error else error

    def longest_running(self) -> tuple[str, float] | None:
        if not self.running:
            return None
        digest, since = min(self.running.items(), key=lambda kv: kv[1])
        return str(self.vertices[digest].get("name", digest)), time.monotonic() - since


@dataclass(frozen=True)
class BuildResult:
    ok: bool
    reason: str
    duration_s: float
    steps: int
    cached_steps: int
    image_id: str | None
    log_tail: tuple[str, ...]
    transient: bool = False
    cancelled: bool = False
    cache_warnings: tuple[str, ...] = ()


_PR_SET_PDEATHSIG = 1
_libc: ctypes.CDLL | None = None
if os.uname().sysname == "Linux":
    with contextlib.suppress(OSError):
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _die_with_parent(parent: int) -> Callable[[], None]:
    """A preexec_fn: SIGINT this child when the thread that started it dies (buildorch killed,
    even by -9), and at once if buildorch already died between fork and here."""

    def pre() -> None:
        if _libc is not None:
            _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGINT)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGINT)

    return pre


def stop_process(p: subprocess.Popen[bytes]) -> None:
    """INT, then TERM, then KILL the build's process group, each with a short grace."""
    for sig, grace in ((signal.SIGINT, GRACE_INT_S), (signal.SIGTERM, GRACE_TERM_S),
                       (signal.SIGKILL, 5.0)):
        if p.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, sig)
        try:
            p.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


def run_build(
    spec: BuildSpec,
    *,
    emit: Callable[[Event], None],
    cancel: threading.Event,
    log_path: Path,
    timeout_s: float | None,
    step_timeout_s: float | None,
    env: dict[str, str] | None = None,
) -> BuildResult:
    start = time.monotonic()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    log_file = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 - closed in finally
    lock = threading.Lock()

    def log(line: str) -> None:
        with lock:
            tail.append(line)
            log_file.write(line + "\n")

    log(f"$ {' '.join(argv(spec))}")
    progress = Progress(spec.name, emit, log)
    if spec.metadata_file:
        spec.metadata_file.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            spec.metadata_file.unlink()
    full_env = proc.docker_env(env)   # pinned to the run's engine, as every docker call
    full_env.setdefault("BUILDX_NO_DEFAULT_ATTESTATIONS", "1")
    try:
        # Its own session (a terminal ^C reaches only us), and it dies with us.
        p = subprocess.Popen(argv(spec), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=full_env, start_new_session=True,
                             preexec_fn=_die_with_parent(os.getpid()))
    except FileNotFoundError:
        log_file.close()
        return BuildResult(False, "docker CLI not found on PATH: install Docker and its buildx "
                           "plugin", 0.0, 0, 0, None, ())

    def pump(stream: object, parse: bool) -> None:
        # rawjson is pretty-printed: an object runs from a line "{" to a line "}", both at
        # column 0, with plain text lines (WARNING:, ERROR:, Dockerfile excerpts) in between.
        assert hasattr(stream, "readline")
        buf: list[str] | None = None
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not parse:
                log(line)
            elif buf is not None:
                buf.append(line)
                if line == "}":
                    progress.feed("\n".join(buf))
                    buf = None
            elif line == "{":
                buf = [line]
            else:
                progress.feed(line)
        if buf:
            progress.feed("\n".join(buf))

    readers = [threading.Thread(target=pump, args=(p.stderr, True), daemon=True),
               threading.Thread(target=pump, args=(p.stdout, False), daemon=True)]
    for t in readers:
        t.start()
    reason = ""
    cancelled = False
    try:
        while p.poll() is None:
            # The progress reader ends at EOF, the moment buildx exits: join() wakes at once,
            # where Popen.wait(timeout) would poll with sleeps of up to 50 ms.
            readers[0].join(0.2)
            if not readers[0].is_alive():
                break
            elapsed = time.monotonic() - start
            if cancel.is_set():
                cancelled, reason = True, "cancelled"
            elif timeout_s is not None and elapsed > timeout_s:
                reason = (f"build exceeded its tier timeout of {_dur(timeout_s)} "
                          f"(ran {_dur(elapsed)}); raise `timeout` for the tier in services.toml")
            elif step_timeout_s is not None:
                longest = progress.longest_running()
                if longest and longest[1] > step_timeout_s:
                    reason = (f"step '{longest[0]}' exceeded step_timeout {_dur(step_timeout_s)}; "
                              "raise `step_timeout` for the tier in services.toml")
            if reason:
                log(f"buildorch: stopping the build: {reason}")
                stop_process(p)
                break
        p.wait()
        for t in readers:
            t.join(5)
    finally:
        if p.poll() is None:
            stop_process(p)
        log_file.close()
    duration = time.monotonic() - start
    image_id = _metadata_image_id(spec.metadata_file)
    cache_warnings = tuple(w for w in progress.warnings if "cache" in w.lower())
    if not reason and p.returncode != 0 and any("'buildx' is not a docker command" in t or
                                                "unknown command: docker buildx" in t
                                                for t in tail):
        reason = ("`docker buildx` is not available: install the buildx plugin "
                  "(Debian: docker-buildx; or Docker Desktop)")
    if not reason and p.returncode != 0:
        reason = failure_reason(progress.errors, progress.error_lines, tuple(tail),
                                p.returncode)
    ok = not reason and p.returncode == 0
    text = "\n".join(tail) + "\n" + reason
    transient = not ok and not cancelled and "timeout" not in reason.split(":")[0] and \
        is_transient(text)
    return BuildResult(ok, reason, duration, progress.steps, progress.cached_steps, image_id,
                       tuple(tail), transient=transient, cancelled=cancelled,
                       cache_warnings=cache_warnings)


def failure_reason(step_errors: Sequence[str], error_lines: Sequence[str],
                   tail: Sequence[str], returncode: int) -> str:
    """The failing step with its error (exit code) if a step failed, else buildx's `ERROR:`
    line (a cache export refused, a registry refusing a push, ...), else the last line that is
    not a hint ("Learn more at ...")."""
    if step_errors:
        return step_errors[-1]
    if error_lines:
        return error_lines[-1]
    for line in reversed(tail):
        text = line.strip()
        if text and not text.startswith(("Learn more at", "$ docker")):
            return text
    return f"docker buildx build exited {returncode}"


def _metadata_image_id(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    for key in ("containerimage.digest", "containerimage.config.digest"):
        value = data.get(key) if isinstance(data, dict) else None
        if isinstance(value, str):
            return value
    return None
