"""Which engine the user means: the endpoint the docker CLI would use, found as it finds it.

docker/cli `resolveContextName` (cli/command/cli.go): `--context`, then a non-empty DOCKER_HOST
(the "default" context), then DOCKER_CONTEXT, then `currentContext` in `$DOCKER_CONFIG/config.json`
(default `~/.docker`), else the default socket. A context is read from the CLI's store
(cli/context/store/doc.go): `contexts/meta/<sha256 of its name>/meta.json` and its TLS files under
`contexts/tls/<same id>/docker/`. Go reads JSON keys case-insensitively, so we do too.

Everything that talks to the engine uses the one `Endpoint` found here, and every docker
subprocess gets `pin(env)`, so the planner and the builds can never look at two engines. Reading
is a dict lookup and at most two small files: a no-change run does not notice it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from buildorch.errors import BuildorchError

DEFAULT_CONTEXT = "default"
DEFAULT_SOCKET = ("npipe:////./pipe/docker_engine" if sys.platform == "win32"
                  else "unix:///var/run/docker.sock")

_chosen: str | None = None   # `buildorch --context NAME`, set once by the command line


def choose(context: str | None) -> None:
    """`--context NAME`: the context every engine call and docker subprocess of this process
    uses, above DOCKER_HOST (as `docker --context` is)."""
    global _chosen
    _chosen = context or None


@dataclass(frozen=True)
class TLS:
    """Client TLS for a tcp:// engine: the files that exist, and whether the server is
    verified."""

    ca: str | None
    cert: str | None
    key: str | None
    verify: bool


@dataclass(frozen=True)
class Endpoint:
    host: str                 # unix://…, tcp://…, ssh://…, npipe://…
    source: str               # why this one: "--context", "DOCKER_HOST", "DOCKER_CONTEXT", …
    context: str = DEFAULT_CONTEXT   # the CLI's context name ("default": DOCKER_HOST or socket)
    tls: TLS | None = None
    hidden: str = ""          # a context DOCKER_HOST hides, with where it was set

    @property
    def local_socket(self) -> str | None:
        """The path of a unix socket endpoint, else None."""
        return self.host[len("unix://"):] if self.host.startswith("unix://") else None

    def describe(self) -> str:
        """`context colima (currentContext in ~/.docker/config.json): unix:///…/docker.sock`."""
        if self.context != DEFAULT_CONTEXT:
            return f"context {self.context} ({self.source}): {self.host}"
        return f"{self.host} ({self.source})"

    def pin(self, env: Mapping[str, str]) -> dict[str, str]:
        """`env` for a docker CLI subprocess that resolves to exactly this endpoint. A context
        is pinned by name (DOCKER_CONTEXT, DOCKER_HOST removed): the CLI then reads its TLS and
        ssh settings itself, and buildx finds the builder chosen under that context."""
        out = dict(env)
        if self.source == "DOCKER_HOST":
            out.pop("DOCKER_CONTEXT", None)
        else:
            out.pop("DOCKER_HOST", None)
            out["DOCKER_CONTEXT"] = self.context
        return out


def config_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("DOCKER_CONFIG") or Path.home() / ".docker")


def _shown(path: Path) -> str:
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home):] if home != "/" and text.startswith(home + os.sep) else text


def _key(data: object, name: str) -> object:
    """`data[name]` matched case-insensitively, as Go's encoding/json does; None if absent."""
    if not isinstance(data, dict):
        return None
    if name in data:
        return data[name]
    low = name.lower()
    return next((v for k, v in data.items() if isinstance(k, str) and k.lower() == low), None)


def _read_json(path: Path, what: str) -> object:
    """The JSON in `path`; None when the file does not exist."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise BuildorchError(f"{_shown(path)} ({what}) cannot be read ({exc.__class__.__name__}"
                             f": {exc}): fix or remove it (the docker CLI reads it too)") \
            from None


def current_context(env: Mapping[str, str]) -> str | None:
    """`currentContext` in the CLI's config.json, if any."""
    path = config_dir(env) / "config.json"
    value = _key(_read_json(path, "the docker CLI's config"), "currentContext")
    return value if isinstance(value, str) and value else None


def _context(name: str, source: str, env: Mapping[str, str]) -> Endpoint:
    store = config_dir(env) / "contexts"
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta_path = store / "meta" / digest / "meta.json"
    meta = _read_json(meta_path, f"docker context {name}")
    if meta is None:
        fix = {"--context": "pass one that `docker context ls` lists",
               "DOCKER_CONTEXT": "set DOCKER_CONTEXT to one that `docker context ls` lists, or "
                                 "unset it",
               }.get(source, "`docker context use default` (or another that `docker context "
                             "ls` lists)")
        raise BuildorchError(f"docker context {name!r} ({source}) does not exist in "
                             f"{_shown(store)}: {fix}")
    docker = _key(_key(meta, "Endpoints"), "docker")
    host = _key(docker, "Host")
    if not isinstance(host, str) or not host:
        raise BuildorchError(f"docker context {name!r} ({source}) has no docker endpoint in "
                             f"{_shown(meta_path)}: `docker context update {name} --docker "
                             "host=…`, or use another context")
    tls_dir = store / "tls" / digest / "docker"
    files = {f: str(tls_dir / f"{f}.pem") for f in ("ca", "cert", "key")
             if (tls_dir / f"{f}.pem").is_file()} if host.startswith("tcp://") else {}
    tls = None
    if files or _key(docker, "SkipTLSVerify") is True:
        tls = TLS(files.get("ca"), files.get("cert"), files.get("key"),
                  verify=_key(docker, "SkipTLSVerify") is not True)
    return Endpoint(host, source, name, tls)


def _env_tls(env: Mapping[str, str]) -> TLS | None:
    """DOCKER_TLS_VERIFY / DOCKER_CERT_PATH for a DOCKER_HOST endpoint, as the CLI reads them."""
    verify = env.get("DOCKER_TLS_VERIFY", "") not in ("", "0", "false")
    if not verify and not env.get("DOCKER_TLS"):
        return None
    certs = Path(env.get("DOCKER_CERT_PATH") or config_dir(env))
    files = {f: str(certs / f"{f}.pem") for f in ("ca", "cert", "key")
             if (certs / f"{f}.pem").is_file()}
    return TLS(files.get("ca"), files.get("cert"), files.get("key"), verify=verify)


def resolve(env: Mapping[str, str], context: str | None = None) -> Endpoint:
    """The endpoint the docker CLI would use with `env` (and `--context`)."""
    if context:
        return _context(context, "--context", env)
    if env.get("DOCKER_HOST"):
        hidden = ""
        named = env.get("DOCKER_CONTEXT")
        if named and named != DEFAULT_CONTEXT:
            hidden = f"DOCKER_CONTEXT={named}"
        else:
            try:
                cur = current_context(env)
            except BuildorchError:
                cur = None   # only a doctor note depends on it; the endpoint is DOCKER_HOST
            if cur and cur != DEFAULT_CONTEXT:
                hidden = (f"context {cur} (currentContext in "
                          f"{_shown(config_dir(env) / 'config.json')})")
        return Endpoint(env["DOCKER_HOST"], "DOCKER_HOST", tls=_env_tls(env), hidden=hidden)
    named = env.get("DOCKER_CONTEXT")
    if named:
        if named == DEFAULT_CONTEXT:
            return Endpoint(DEFAULT_SOCKET, "DOCKER_CONTEXT=default: the default socket")
        return _context(named, "DOCKER_CONTEXT", env)
    cur = current_context(env)
    if cur and cur != DEFAULT_CONTEXT:
        return _context(cur, f"currentContext in {_shown(config_dir(env) / 'config.json')}",
                        env)
    return Endpoint(DEFAULT_SOCKET, "the default socket")


def current() -> Endpoint:
    """The endpoint of this process: `--context`, else the environment and the CLI's files."""
    return resolve(os.environ, _chosen)


def docker_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a docker CLI subprocess, pinned to `current()`."""
    return current().pin(os.environ if env is None else env)
