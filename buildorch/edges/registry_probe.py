"""One look at a registry, as the docker CLI would see it: does it answer, may this user pull
from and push to it. Used by `doctor` and, once per run, before anything builds.

Credentials are the docker CLI's own (`$DOCKER_CONFIG/config.json`: `auths`, `credsStore`,
`credHelpers`, read by docker-py's `docker.auth`, which runs `docker-credential-<helper> get`
as the CLI does). They go only into the Authorization header of the requests below, never into
a message. Token auth follows the registry's `WWW-Authenticate` challenge (Bearer realm, service,
scope), as the distribution spec has it; Basic is answered directly.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

PROBE_TIMEOUT_S = 3.0
PROBE_REPO = "buildorch-probe"


def registry_host(registry: str) -> str:
    """The host of "ghcr.io/acme" or "127.0.0.1:5000/demo"; Docker Hub for "acme"."""
    first = registry.split("/", 1)[0]
    if "/" in registry and ("." in first or ":" in first or first == "localhost"):
        return first
    if ":" in first or "." in first:
        return first
    return "registry-1.docker.io"


def _loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name in ("localhost", "::1") or name.startswith("127.")


@dataclass(frozen=True)
class Access:
    """What a registry said. `pull`/`push`: True, False (refused: 401/403), None (not asked, or
    no answer). `answer`: the HTTP status of /v2/, or the network error when none came."""

    name: str
    host: str
    reachable: bool
    answer: int | str
    pull: bool | None
    push: bool | None
    credentials: bool          # the docker CLI has credentials for this host

    @property
    def login(self) -> str:
        return f"docker login {self.host}"

    def why_not(self, what: str) -> str:
        """`what` ("push", "pull") refused or impossible, in words, with the fix."""
        if not self.reachable:
            return (f"registry {self.host} does not answer ({self.answer}): start it, check the "
                    "network, or fix [project] registry")
        cred = ("its credentials were refused (expired? run `{0}` again)" if self.credentials
                else "no credentials for it (run `{0}`)").format(self.login)
        return f"registry {self.host} refuses to let this user {what}: {cred}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "host": self.host, "reachable": self.reachable,
                "answer": self.answer, "pull": self.pull, "push": self.push,
                "credentials": self.credentials}


def _credentials(host: str) -> tuple[str, str] | None:
    """(username, secret) as the docker CLI would send them to `host`, or None."""
    try:
        from docker import auth  # docker-py: the CLI's config and credential helpers
        cfg = auth.load_config()
        # Docker Hub's credentials live under the index's name, as `docker login` writes them.
        found = cfg.resolve_authconfig(None if host == "registry-1.docker.io" else host)
    except Exception:   # an unreadable config or a broken helper: as if not logged in
        return None
    if not found:
        return None
    user = found.get("Username") or found.get("username") or ""
    secret = (found.get("Password") or found.get("password") or found.get("IdentityToken")
              or "")
    return (str(user), str(secret)) if secret else None


def _request(method: str, url: str, headers: dict[str, str]
             ) -> tuple[int | str, dict[str, str], bytes]:
    """Status (or the network error's text), headers, body. Never raises."""
    req = urllib.request.Request(url, method=method, headers=headers,
                                 data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=PROBE_TIMEOUT_S) as resp:
            return int(resp.status), dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), dict(exc.headers.items()), b""
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return str(getattr(exc, "reason", exc)), {}, b""


def _challenge(headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    """`Bearer realm="…",service="…"` -> ("bearer", {realm, service}); Basic likewise."""
    value = next((v for k, v in headers.items() if k.lower() == "www-authenticate"), "")
    scheme, _, rest = value.partition(" ")
    params = urllib.request.parse_keqv_list(urllib.request.parse_http_list(rest)) if rest \
        else {}
    return scheme.lower(), params


def _authorization(headers: dict[str, str], creds: tuple[str, str] | None,
                   scope: str) -> str | None:
    """The Authorization header that answers a 401's challenge for `scope`, or None."""
    scheme, params = _challenge(headers)
    basic = ("Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()) \
        if creds else None
    if scheme == "basic":
        return basic
    if scheme != "bearer" or "realm" not in params:
        return None
    query = {"scope": scope, **({"service": params["service"]} if "service" in params else {})}
    url = params["realm"] + ("&" if "?" in params["realm"] else "?") + \
        urllib.parse.urlencode(query)
    status, _, body = _request("GET", url, {"Authorization": basic} if basic else {})
    if status != 200:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    token = data.get("token") or data.get("access_token") if isinstance(data, dict) else None
    return f"Bearer {token}" if token else None


def probe(registry: str, *, push: bool = True) -> Access:
    """Ask `registry` (a prefix such as "ghcr.io/acme") whether this user may pull and, with
    `push`, push under it: a tags listing and a blob upload started (and cancelled at once,
    leaving nothing), each answered with the user's credentials when challenged."""
    host = registry_host(registry)
    first, _, rest = registry.partition("/")
    prefix = rest if first == host and rest else ("" if first == host else registry)
    repo = f"{prefix}/{PROBE_REPO}".lstrip("/")
    base = f"{'http' if _loopback(host) else 'https'}://{host}/v2/"
    creds = _credentials(host)
    status, _, _ = _request("GET", base, {})
    if status not in (200, 401):
        return Access(registry, host, False, status, None, None, creds is not None)
    ask = "pull,push" if push else "pull"
    auth: str | None = None

    def call(method: str, url: str) -> tuple[int | str, dict[str, str]]:
        nonlocal auth
        st, hd, _ = _request(method, url, {"Authorization": auth} if auth else {})
        if st == 401 and auth is None:
            auth = _authorization(hd, creds, f"repository:{repo}:{ask}")
            if auth:
                st, hd, _ = _request(method, url, {"Authorization": auth})
        return st, hd

    st, _ = call("GET", f"{base}{repo}/tags/list")
    pull = st in (200, 404) if isinstance(st, int) else None
    can_push: bool | None = None
    if push:
        up, hd = call("POST", f"{base}{repo}/blobs/uploads/")
        can_push = up == 202 if isinstance(up, int) else None
        location = next((v for k, v in hd.items() if k.lower() == "location"), "")
        if up == 202 and location:   # cancel the upload just started: nothing is left behind
            _request("DELETE", urllib.parse.urljoin(base, location),
                     {"Authorization": auth} if auth else {})
    return Access(registry, host, True, status, pull, can_push, creds is not None)
