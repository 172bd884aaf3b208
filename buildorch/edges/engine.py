"""The Docker Engine edge: is it there, which images it holds, pushes, pulls, cleanup.

docker-py for the Engine API, except on the path of a run that builds nothing: there the engine
is asked two things (ping, inspect our own tags), and importing docker-py with requests and
urllib3 would cost more than the whole rest of the run. Those two calls go straight over the
unix socket (`_Socket`); docker-py is imported the first time anything else is needed.
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from buildorch.errors import BuildorchError

if TYPE_CHECKING:
    from buildorch.config import Config

LABEL_DIGEST = "org.buildorch.digest"   # on every image built: the digest of its inputs
LABEL_NAME = "org.buildorch.image"

_PUSHED_RE = re.compile(r"digest: (sha256:[0-9a-f]{64})")
NO_ENGINE = ("no Docker engine reachable at {where}: start Docker (on a bare Debian machine of "
             "ours: `bash scripts/engine.sh up`), or set DOCKER_HOST")
FROZEN_ENGINE = ("the Docker engine at {where} accepted the connection but did not answer "
                 "within {secs:.0f}s (frozen or overloaded): restart it (`systemctl restart "
                 "docker`, or `bash scripts/engine.sh up`), or set DOCKER_HOST to another")
PING_TIMEOUT_S = 3.0     # a frozen engine is reported after this, not after the API timeout
DEFAULT_HOST = "unix:///var/run/docker.sock"


def docker_host() -> str:
    """The engine docker-py's `from_env` talks to: DOCKER_HOST, else the default socket."""
    return os.environ.get("DOCKER_HOST", DEFAULT_HOST)


def endpoint() -> str:
    """The socket docker-py talks to, and the CLI's context when one is set (the builds go
    through the CLI: a context pointing elsewhere would split the two)."""
    host = docker_host()
    ctx = os.environ.get("DOCKER_CONTEXT")
    return f"{host} (docker context {ctx})" if ctx else host


def _is_timeout(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, TimeoutError) or type(seen).__name__ in ("Timeout", "ReadTimeout",
                                                                     "ConnectTimeout"):
            return True
        if "timed out" in str(seen).lower():
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@dataclass
class _Socket:
    """GET requests to the Engine API over its unix socket, one connection per request."""

    path: str
    timeout: float

    @classmethod
    def for_env(cls, timeout: float) -> _Socket | None:
        """The engine docker-py's `from_env` would use, when it is a unix socket."""
        host = docker_host()
        if not host.startswith("unix://"):
            return None
        return cls(host[len("unix://"):], timeout)

    def get(self, url: str, timeout: float | None = None) -> tuple[int, bytes]:
        """(status, body) of `GET url`. HTTP/1.0, so the engine neither chunks the body nor
        keeps the connection: the response is everything up to EOF (http.client would cost
        more to import, with ssl and email, than the whole no-change run spends here)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout if timeout is None else timeout)
            sock.connect(self.path)
            sock.sendall(f"GET {url} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
        status = head.split(b" ", 2)
        if len(status) < 2 or not status[0].startswith(b"HTTP/") or not status[1].isdigit():
            raise OSError(f"not an HTTP answer from {self.path}: {head[:80]!r}")
        return int(status[1]), body


@dataclass
class Engine:
    api: _Socket | None = None                     # the light path, when the engine is local
    where: str = field(default_factory=endpoint)   # the socket (and context) it talks to
    timeout: float = 60.0
    _client: Any = None   # docker.DockerClient; typed loosely, docker-py's stubs are partial

    @property
    def client(self) -> Any:
        """docker-py's client, made on first use."""
        if self._client is None:
            import docker  # docker-py: the Engine API for everything but no-change runs

            try:
                self._client = docker.from_env(timeout=int(self.timeout))
            except Exception as exc:  # docker-py raises several unrelated types here
                raise BuildorchError(NO_ENGINE.format(where=self.where)
                                     + f" ({exc.__class__.__name__})") from None
        return self._client

    @classmethod
    def connect(cls, timeout: float = 60.0, ping_timeout: float = PING_TIMEOUT_S) -> Engine:
        """Ping with a short timeout (a frozen engine is said within seconds), then use
        `timeout` for every other call."""
        at = endpoint()
        api = _Socket.for_env(timeout)
        if api is not None:
            try:
                status, body = api.get("/_ping", timeout=ping_timeout)
                if status != 200:
                    raise OSError(f"HTTP {status}: {body[:200]!r}")
            except Exception as exc:
                if _is_timeout(exc):
                    raise BuildorchError(FROZEN_ENGINE.format(where=at, secs=ping_timeout)) \
                        from None
                raise BuildorchError(NO_ENGINE.format(where=at)
                                     + f" ({exc.__class__.__name__})") from None
            return cls(api, at, timeout)
        import docker  # a remote engine (tcp, ssh): docker-py speaks it

        try:
            client = docker.from_env(timeout=max(1, round(ping_timeout)))
            client.ping()
        except Exception as exc:  # docker-py raises several unrelated types here
            if _is_timeout(exc):
                raise BuildorchError(FROZEN_ENGINE.format(where=at, secs=ping_timeout)) \
                    from None
            raise BuildorchError(NO_ENGINE.format(where=at)
                                 + f" ({exc.__class__.__name__})") from None
        client.api.timeout = int(timeout)
        return cls(None, at, timeout, client)

    def answers(self, timeout: float = PING_TIMEOUT_S) -> bool:
        """Does the engine still answer a ping within `timeout`? (a fresh connection)"""
        if self.api is not None:
            try:
                return self.api.get("/_ping", timeout=timeout)[0] == 200
            except Exception:
                return False
        import docker

        try:
            client = docker.from_env(timeout=max(1, round(timeout)))
            try:
                return bool(client.ping())
            finally:
                client.close()
        except Exception:
            return False

    def held(self, refs: Iterable[str]) -> dict[str, str | None]:
        """The refs the engine holds, each with the buildorch digest label of the image it
        names (None: not built by buildorch). One inspect per ref, several at once: listing
        every image is far slower on the containerd image store (it sizes each one)."""
        def label(ref: str) -> tuple[bool, str | None]:
            info = self._inspect(ref)
            if info is None:
                return False, None
            labels = (info.get("Config") or {}).get("Labels") or {}
            return True, labels.get(LABEL_DIGEST)

        wanted = list(refs)
        with ThreadPoolExecutor(max_workers=8) as pool:
            return {r: d for r, (ok, d) in zip(wanted, pool.map(label, wanted), strict=True)
                    if ok}

    def _inspect(self, ref: str) -> dict[str, Any] | None:
        """`GET /images/{ref}/json`; None when the engine has no such image."""
        if self.api is None:
            import docker.errors

            try:
                info: dict[str, Any] = self.client.api.inspect_image(ref)
            except docker.errors.ImageNotFound:
                return None
            return info
        try:
            status, body = self.api.get(f"/images/{quote(ref, safe='')}/json")
        except OSError as exc:
            raise BuildorchError(f"the Docker engine at {self.where} stopped answering "
                                 f"({exc.__class__.__name__}): start it again and retry") \
                from None
        if status == 404:
            return None
        if status != 200:
            raise BuildorchError(f"the Docker engine at {self.where} refused to inspect {ref} "
                                 f"(HTTP {status}: {body[:200].decode('utf-8', 'replace')})")
        data = json.loads(body)
        return data if isinstance(data, dict) else None

    def images_of(self, cfg: Config) -> dict[str, str | None]:
        """The configured images the engine holds under every one of their tags: name ->
        digest label (None when a tag names another image: `latest` moved, say)."""
        held = self.held(r for n in cfg.images for r in cfg.refs(n))
        out: dict[str, str | None] = {}
        for n in cfg.images:
            labels = {held[r] for r in cfg.refs(n) if r in held}
            if all(r in held for r in cfg.refs(n)):
                out[n] = labels.pop() if len(labels) == 1 else None
        return out

    def registry_has(self, ref: str) -> bool:
        """Does the registry hold `ref`? (asked through the engine: its credentials apply)"""
        try:
            self.client.api.inspect_distribution(ref)
            return True
        except Exception:  # not found, unauthorized, unreachable: all mean "build it"
            return False

    def pull_as(self, src: str, dst: str) -> str:
        """Pull `src` and tag it `dst`; returns the image id."""
        repo, _, tag = src.rpartition(":")
        image = self.client.images.pull(repo, tag=tag)
        drepo, _, dtag = dst.rpartition(":")
        image.tag(drepo, dtag)
        return str(image.id)

    def push(self, ref: str) -> str:
        """Push `ref`; returns the manifest digest the registry now holds."""
        repo, _, tag = ref.rpartition(":")
        digest = ""
        try:
            for line in self.client.api.push(repo, tag=tag, stream=True, decode=True):
                if isinstance(line, dict) and line.get("error"):
                    raise BuildorchError(f"push {ref}: {line['error']}")
                aux = line.get("aux") if isinstance(line, dict) else None
                if isinstance(aux, dict) and aux.get("Digest"):
                    digest = str(aux["Digest"])
                elif isinstance(line, dict) and not digest:
                    # the containerd image store sends no aux: "TAG: digest: sha256:… size: N"
                    m = _PUSHED_RE.search(str(line.get("status", "")))
                    digest = m.group(1) if m else ""
        except BuildorchError:
            raise
        except Exception as exc:  # docker-py: APIError, connection errors
            raise BuildorchError(f"push {ref}: {exc}") from None
        if not digest:
            raise BuildorchError(f"push {ref}: the engine reported no digest")
        return digest

    def tag(self, src: str, dst: str) -> None:
        repo, _, tag = dst.rpartition(":")
        try:
            self.client.api.tag(src, repo, tag)
        except Exception as exc:  # docker-py: ImageNotFound, APIError
            raise BuildorchError(f"tag {src} as {dst}: {exc}") from None

    def pull_digest(self, repository: str, digest: str, ref: str) -> str:
        """Pull exactly `repository@digest` and tag it `ref`; returns the image id."""
        try:
            image = self.client.images.pull(repository, tag=digest)
            repo, _, tag = ref.rpartition(":")
            image.tag(repo, tag)
        except Exception as exc:  # docker-py: APIError, ImageNotFound, connection errors
            raise BuildorchError(f"pull {repository}@{digest} into this engine: {exc}") from None
        return str(image.id)
