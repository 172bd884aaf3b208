"""The Docker Engine edge: is it there, which images it holds, pushes, pulls, cleanup.

docker-py for the Engine API, except on the path of a run that builds nothing: there the engine
is asked two things (ping, inspect our own tags), and importing docker-py with requests and
urllib3 would cost more than the whole rest of the run. Those two calls go straight over the
unix socket (`_Socket`); docker-py is imported the first time anything else is needed.

The engine is the one the docker CLI would use (`edges.endpoint`): never docker-py's own
`from_env`, which ignores the CLI's current context before docker-py 7.2.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from buildorch.edges.endpoint import DEFAULT_CONTEXT, Endpoint, current
from buildorch.errors import BuildorchError

if TYPE_CHECKING:
    from buildorch.config import Config

LABEL_DIGEST = "org.buildorch.digest"   # on every image built: the digest of its inputs
LABEL_NAME = "org.buildorch.image"

_PUSHED_RE = re.compile(r"digest: (sha256:[0-9a-f]{64})")
PING_TIMEOUT_S = 3.0     # a frozen engine is reported after this, not after the API timeout


def what_to_do(ep: Endpoint) -> str:
    """What a user can do when the engine at `ep` does not answer, by where `ep` came from."""
    if ep.source == "DOCKER_HOST":
        return ("start that engine, or unset DOCKER_HOST if it is stale (then the docker "
                "context applies: `docker context ls`)")
    if ep.context != DEFAULT_CONTEXT:
        return ("start the engine behind that context (Docker Desktop, OrbStack, `colima "
                "start`, Rancher Desktop, `systemctl --user start docker`), or `docker context "
                "use` another (`docker context ls`)")
    return ("start Docker (Docker Desktop, `colima start`, `sudo systemctl start docker`), or "
            "point at the engine you use: `docker context use NAME` or DOCKER_HOST")


def no_engine(ep: Endpoint, exc: BaseException | None = None) -> str:
    why = f" ({exc.__class__.__name__})" if exc is not None else ""
    tls = ""
    if ep.host.startswith("tcp://") and ep.tls is None:
        tls = (" (no TLS configured for it: an engine on tcp:// usually wants it — "
               "DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH, or a context made with `docker "
               "context create NAME --docker host=…,ca=…,cert=…,key=…`)")
    return f"no Docker engine reachable at {ep.describe()}{why}{tls}: {what_to_do(ep)}"


def frozen_engine(ep: Endpoint, secs: float) -> str:
    return (f"the Docker engine at {ep.describe()} accepted the connection but did not answer "
            f"within {secs:.0f}s (frozen or overloaded): restart it (Docker Desktop: Restart; "
            "`colima restart`; `sudo systemctl restart docker`), or use another engine")


def docker_client(ep: Endpoint, timeout: float) -> Any:
    """docker-py's client for `ep` (docker.DockerClient; docker-py's stubs are partial); it
    asks the engine its API version. BuildorchError for an endpoint it cannot speak to."""
    import docker

    return docker.DockerClient(**client_kwargs(ep, timeout))


def client_kwargs(ep: Endpoint, timeout: float) -> dict[str, Any]:
    """docker.DockerClient's arguments for `ep`, or BuildorchError naming what is missing."""
    kwargs: dict[str, Any] = {"base_url": ep.host, "timeout": max(1, round(timeout))}
    if ep.host.startswith("ssh://"):
        # docker-py's own ssh transport needs paramiko; the ssh client is what the CLI uses
        if shutil.which("ssh") is None:
            raise BuildorchError(f"the engine at {ep.describe()} is reached over ssh, and no "
                                 "`ssh` client is on PATH: install OpenSSH's client")
        kwargs["use_ssh_client"] = True
    elif ep.tls is not None:
        from docker.tls import TLSConfig

        cert = (ep.tls.cert, ep.tls.key) if ep.tls.cert and ep.tls.key else None
        if ep.tls.verify and not ep.tls.ca:
            raise BuildorchError(f"the engine at {ep.describe()} wants TLS verified and there "
                                 "is no ca.pem for it: add the CA (DOCKER_CERT_PATH, or "
                                 "`docker context update … --docker ca=…`)")
        kwargs["tls"] = TLSConfig(client_cert=cert, ca_cert=ep.tls.ca if ep.tls.verify
                                  else None, verify=ep.tls.verify)
        kwargs["base_url"] = ep.host.replace("tcp://", "https://", 1)
    return kwargs


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
    def of(cls, ep: Endpoint, timeout: float) -> _Socket | None:
        """The socket of `ep` when it is a unix socket on this machine."""
        path = ep.local_socket
        return None if path is None else cls(path, timeout)

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
    endpoint: Endpoint = field(default_factory=current)   # the one engine of this run
    api: _Socket | None = None     # the light path, when the engine is a local unix socket
    timeout: float = 60.0
    _client: Any = None   # docker.DockerClient; typed loosely, docker-py's stubs are partial

    @property
    def where(self) -> str:
        """The endpoint and where it came from, for messages."""
        return self.endpoint.describe()

    @property
    def client(self) -> Any:
        """docker-py's client, made on first use."""
        if self._client is None:
            try:
                self._client = docker_client(self.endpoint, self.timeout)
            except BuildorchError:
                raise
            except Exception as exc:  # docker-py raises several unrelated types here
                raise BuildorchError(no_engine(self.endpoint, exc)) from None
        return self._client

    @classmethod
    def connect(cls, timeout: float = 60.0, ping_timeout: float = PING_TIMEOUT_S,
                endpoint: Endpoint | None = None) -> Engine:
        """Ping with a short timeout (a frozen engine is said within seconds), then use
        `timeout` for every other call. `endpoint`: default, the one the docker CLI would use
        here (`edges.endpoint.current`)."""
        ep = endpoint or current()
        api = _Socket.of(ep, timeout)
        if api is not None:
            try:
                status, body = api.get("/_ping", timeout=ping_timeout)
                if status != 200:
                    raise OSError(f"HTTP {status}: {body[:200]!r}")
            except Exception as exc:
                if _is_timeout(exc):
                    raise BuildorchError(frozen_engine(ep, ping_timeout)) from None
                raise BuildorchError(no_engine(ep, exc)) from None
            return cls(ep, api, timeout)
        try:   # a remote engine (tcp, ssh, npipe): docker-py speaks it
            client = docker_client(ep, ping_timeout)
            client.ping()
        except BuildorchError:
            raise
        except Exception as exc:  # docker-py raises several unrelated types here
            if _is_timeout(exc):
                raise BuildorchError(frozen_engine(ep, ping_timeout)) from None
            raise BuildorchError(no_engine(ep, exc)) from None
        client.api.timeout = int(timeout)
        return cls(ep, None, timeout, client)

    def answers(self, timeout: float = PING_TIMEOUT_S) -> bool:
        """Does the engine still answer a ping within `timeout`? (a fresh connection)"""
        if self.api is not None:
            try:
                return self.api.get("/_ping", timeout=timeout)[0] == 200
            except Exception:
                return False
        try:
            client = docker_client(self.endpoint, timeout)
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
