"""Smoke checks: does a freshly built image even start?

An image's check (services.toml `smoke`) is either a command run in the image (its exit status
decides) or `"healthcheck"`: the image started as it is, until its Dockerfile HEALTHCHECK
reports healthy. The container has no network, carries the label `org.buildorch.smoke` (its
owner: host and pid), and is removed whatever happens: pass, failure, timeout, cancel, ^C. A
container a killed buildorch left behind is removed by the next check on the same host.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from buildorch.config import HEALTHCHECK, Config, Smoke
from buildorch.running.events import Event, SmokeFinished, SmokeStarted

LABEL_SMOKE = "org.buildorch.smoke"       # value: "host:pid" of the buildorch that made it
LABEL_SMOKE_IMAGE = "org.buildorch.smoke.image"
POLL_S = 0.2
TAIL_LINES = 15


@dataclass(frozen=True)
class SmokeResult:
    ok: bool
    reason: str                     # "" when ok
    duration_s: float
    log_tail: tuple[str, ...] = ()
    timed_out: bool = False
    cancelled: bool = False

    @property
    def outcome(self) -> str:
        """passed | failed | timeout | cancelled (history and stats)."""
        if self.ok:
            return "passed"
        return "cancelled" if self.cancelled else "timeout" if self.timed_out else "failed"


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_orphans(api: Any) -> list[str]:
    """Remove smoke containers whose buildorch (on this host) is gone; their ids."""
    gone = []
    host = socket.gethostname()
    for c in api.containers(all=True, filters={"label": LABEL_SMOKE}):
        owner = str((c.get("Labels") or {}).get(LABEL_SMOKE, ""))
        h, _, pid = owner.rpartition(":")
        if h == host and pid.isdigit() and not _alive(int(pid)):
            # already gone, or being removed: nothing left to do
            with contextlib.suppress(Exception):
                api.remove_container(c["Id"], force=True)
                gone.append(str(c["Id"]))
    return gone


def _ensure_image(client: Any, ref: str) -> str | None:
    """None when the engine holds `ref` (pulled if it lacked it: a `--push` build); else why
    not."""
    import docker.errors

    try:
        client.api.inspect_image(ref)
        return None
    except docker.errors.ImageNotFound:
        pass
    repo, _, tag = ref.rpartition(":")
    try:
        client.images.pull(repo, tag=tag)
    except Exception as exc:
        return (f"image {ref} is not in the engine and could not be pulled "
                f"({exc.__class__.__name__}): build it first (`buildorch build`)")
    return None


def _health_output(state: Mapping[str, Any]) -> str:
    log = (state.get("Health") or {}).get("Log") or []
    if not log:
        return ""
    last = log[-1]
    out = str(last.get("Output") or "").strip().replace("\n", " | ")
    return f"last check exited {last.get('ExitCode')}" + (f": {out}" if out else "")


def _tail(api: Any, cid: str, extra: str = "") -> tuple[str, ...]:
    try:
        raw = api.logs(cid, stdout=True, stderr=True, tail=TAIL_LINES)
    except Exception:
        raw = b""
    lines = bytes(raw).decode("utf-8", "replace").splitlines()
    if extra:
        lines.append(extra)
    return tuple(lines[-TAIL_LINES:])


def run_smoke(client: Any, ref: str, check: Smoke, *, timeout_s: float,
              cancel: threading.Event | None = None, name: str = "") -> SmokeResult:
    """Run `check` on the image `ref` through docker-py's `client`, within `timeout_s`."""
    import docker.errors

    cancel = cancel or threading.Event()
    api = client.api
    t0 = time.monotonic()

    def result(ok: bool, reason: str = "", tail: tuple[str, ...] = (), **kw: bool
               ) -> SmokeResult:
        return SmokeResult(ok, reason, time.monotonic() - t0, tail, **kw)

    remove_orphans(api)
    missing = _ensure_image(client, ref)
    if missing:
        return result(False, missing)
    if check.healthcheck:
        hc = (api.inspect_image(ref).get("Config") or {}).get("Healthcheck") or {}
        test = hc.get("Test") or []
        if not test or test[0] == "NONE":
            return result(False, f'smoke = "{HEALTHCHECK}" but the image has no HEALTHCHECK: '
                          "add one to its Dockerfile, or make smoke a command")
    kwargs: dict[str, Any] = {}
    if not check.healthcheck:
        # The command as written: it replaces the image's ENTRYPOINT and CMD.
        kwargs = {"entrypoint": [check.argv[0]], "command": list(check.argv[1:])}
    container = api.create_container(
        ref, name=f"bo-smoke-{name or 'image'}-{uuid.uuid4().hex[:8]}", detach=True,
        labels={LABEL_SMOKE: _owner(), LABEL_SMOKE_IMAGE: ref},
        host_config=api.create_host_config(network_mode="none"), **kwargs)
    cid = str(container["Id"])
    try:
        try:
            api.start(cid)
        except docker.errors.APIError as exc:
            # e.g. the command does not exist in the image
            return result(False, f"`{check.describe()}` could not start: "
                          f"{exc.explanation or exc}")
        while True:
            state = api.inspect_container(cid)["State"]
            status = state.get("Status")
            health = (state.get("Health") or {}).get("Status")
            elapsed = time.monotonic() - t0
            if check.healthcheck:
                if health == "healthy":
                    return result(True)
                if health == "unhealthy":
                    return result(False, f"HEALTHCHECK reported unhealthy "
                                  f"({_health_output(state)})", _tail(api, cid))
                if status in ("exited", "dead"):
                    return result(False, f"the container exited with code "
                                  f"{state.get('ExitCode')} before its HEALTHCHECK reported "
                                  "healthy", _tail(api, cid))
            elif status in ("exited", "dead"):
                code = state.get("ExitCode")
                if code == 0:
                    return result(True)
                return result(False, f"`{check.describe()}` exited with code {code}",
                              _tail(api, cid))
            if elapsed > timeout_s:
                what = (f"HEALTHCHECK still {health or 'starting'}" if check.healthcheck
                        else f"`{check.describe()}` still running")
                return result(False, f"timed out after {timeout_s:g}s ({what}); raise "
                              "`smoke_timeout` for the tier in services.toml",
                              _tail(api, cid), timed_out=True)
            if cancel.wait(POLL_S):
                return result(False, "cancelled", cancelled=True)
    finally:
        # already gone (the engine removed it) is fine
        with contextlib.suppress(Exception):
            api.remove_container(cid, force=True)


def check_built(client: Any, cfg: Config, name: str, emit: Callable[[Event], None],
                cancel: threading.Event) -> SmokeResult | None:
    """The smoke check of `name` just built, with its events; None when it has none."""
    image = cfg.images[name]
    if image.smoke is None:
        return None
    emit(SmokeStarted(name, image.smoke.describe()))
    try:
        res = run_smoke(client, cfg.ref(name), image.smoke,
                        timeout_s=cfg.tiers[image.tier].smoke_timeout, cancel=cancel, name=name)
    except Exception as exc:  # the engine failed us: the check did not pass
        res = SmokeResult(False, f"the engine failed the check: {exc}", 0.0)
    emit(SmokeFinished(name, res.outcome, res.duration_s, res.reason, res.log_tail))
    return res
