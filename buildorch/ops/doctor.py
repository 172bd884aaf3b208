"""`buildorch doctor`: the engine, buildx, each tier's builder, the registry, free disk, and
the caches and parent routes a build would use, with why; problems with what to do.

No click here: `diagnose` returns one JSON-ready dict that the CLI prints as text or as JSON.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from buildorch.config import Config
from buildorch.config_keys import CACHE_SINKS
from buildorch.edges import endpoint as endpoints
from buildorch.edges import proc
from buildorch.edges.capabilities import BuilderInfo, Capabilities, detect
from buildorch.edges.endpoint import DEFAULT_SOCKET, Endpoint
from buildorch.edges.engine import Engine
from buildorch.errors import BuildorchError
from buildorch.running.cache import cache_plan
from buildorch.running.strategy import parent_plan

PROBE_TIMEOUT_S = 3.0


def _buildx_version() -> str | None:
    try:
        p = proc.run(["docker", "buildx", "version"], check=False)
    except BuildorchError:
        return None
    if p.returncode != 0:
        return None
    words = p.stdout.decode("utf-8", "replace").split()
    return words[1] if len(words) > 1 else None


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


def _status(method: str, url: str) -> tuple[int | str, str]:
    """The HTTP status (or the error text when nothing answered) and the Location header."""
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=PROBE_TIMEOUT_S) as resp:
            return int(resp.status), str(resp.headers.get("Location") or "")
    except urllib.error.HTTPError as exc:
        return int(exc.code), ""
    except (urllib.error.URLError, OSError) as exc:
        return str(getattr(exc, "reason", exc)), ""


def _has_credentials(host: str) -> bool:
    """`docker login HOST` left credentials (or a helper) in the CLI's config. Never read
    beyond whether they exist."""
    cfg = Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker")) / "config.json"
    try:
        data = json.loads(cfg.read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict):
        return False
    keys = {*(data.get("auths") or {}), *(data.get("credHelpers") or {})}
    return bool(data.get("credsStore")) or any(host in k for k in keys)


def probe_registry(registry: str) -> dict[str, Any]:
    host = registry_host(registry)
    repo = registry.split("/", 1)[1] if registry.split("/", 1)[0] == host and "/" in registry \
        else registry
    scheme = "http" if _loopback(host) else "https"
    base = f"{scheme}://{host}/v2/"
    st, _ = _status("GET", base)
    reachable = st in (200, 401)
    out: dict[str, Any] = {"name": registry, "host": host, "reachable": reachable,
                           "answer": st}
    if not reachable:
        out["push"] = "unknown"
        return out
    # A push starts with a blob upload: 202 means this client may push (anonymously).
    up, location = _status("POST", f"{base}{repo}/doctor-probe/blobs/uploads/")
    if up == 202:
        out["push"] = "allowed"
        if location:   # cancel the upload just started: nothing is left behind
            _status("DELETE", urllib.parse.urljoin(base, location))
    elif _has_credentials(host):
        out["push"] = "credentials configured (not verified)"
    else:
        out["push"] = f"needs `docker login {host}`"
    return out


def _builder_json(b: BuilderInfo, tiers: list[str], cfg: Config) -> dict[str, Any]:
    plan = cache_plan(cfg.cache_from, cfg.cache_to, (), b)
    parents = ("the image just loaded into this engine" if not b.via_registry else
               "pushed to the registry; each child pinned to that digest (--build-context)")
    exports = [k for k in CACHE_SINKS if b.can_export(k)]
    return {"name": b.name, "driver": b.driver, "endpoint": b.endpoint, "current": b.current,
            "can_export": exports,
            "reachable": b.reachable, "same_engine": b.same_engine,
            "image_store": b.image_store, "tiers": tiers, "parents": parents,
            "cache": {"from": list(plan.sources), "to": list(plan.sinks),
                      "why": list(plan.why), "notes": list(plan.notes)},
            **({"problem": b.problem} if b.problem else {})}


def _default_socket(ep: Endpoint, engine_id: str) -> str:
    """A note when the default socket is not the run's engine: missing, or another engine
    (Docker Desktop for Linux beside docker-ce). Tools that ignore docker contexts use it."""
    if ep.host == DEFAULT_SOCKET or not DEFAULT_SOCKET.startswith("unix://"):
        return ""
    path = DEFAULT_SOCKET[len("unix://"):]
    tools = ("tools that ignore docker contexts (docker-py before 7.2, docker-compose v1, "
             "testcontainers) ")
    if not os.path.exists(path):
        return (f"no default socket at {path}: buildorch and the docker CLI use "
                f"{ep.describe()}; {tools}find no engine there: give them DOCKER_HOST="
                f"{ep.host}")
    try:
        other = Engine.connect(ping_timeout=1.0, endpoint=Endpoint(DEFAULT_SOCKET, "default"))
        other_id = str(other.client.info().get("ID", ""))
    except Exception:   # a stale socket file: nothing answers there
        return (f"the default socket {path} does not answer: buildorch and the docker CLI use "
                f"{ep.describe()}; {tools}find no engine there")
    if engine_id and other_id and other_id != engine_id:
        return (f"the default socket {path} is another engine than {ep.describe()}: "
                f"buildorch builds and looks only at the latter; {tools}would use the former")
    return ""


def diagnose(cfg: Config | None) -> dict[str, Any]:
    problems: list[str] = []
    notes: list[str] = []
    out: dict[str, Any] = {"endpoint": None, "engine": None, "buildx": _buildx_version(),
                           "builders": [], "cache": None, "registry": None, "disk": None,
                           "notes": notes, "problems": problems}
    if out["buildx"] is None:
        problems.append("docker buildx is missing: install the buildx plugin (Debian: "
                        "docker-buildx; or Docker Desktop)")
    try:
        ep = endpoints.current()
    except BuildorchError as exc:
        problems.append(str(exc))
        return out
    out["endpoint"] = {"host": ep.host, "context": ep.context, "source": ep.source,
                       "text": ep.describe()}
    if ep.hidden:
        notes.append(f"DOCKER_HOST={ep.host} hides {ep.hidden}: the docker CLI and buildorch "
                     "use DOCKER_HOST; unset it to use the context")
    try:
        engine = Engine.connect(endpoint=ep)
    except BuildorchError as exc:
        problems.append(str(exc))
        return out
    tiers = dict(cfg.tiers) if cfg else {}
    caps: Capabilities | None = None
    try:
        caps = detect(engine, {t.builder for t in tiers.values()})
    except BuildorchError as exc:
        problems.append(str(exc))
    if caps is not None:
        e = caps.engine
        out["engine"] = {"product": e.product, "version": e.version, "api": e.api,
                         "image_store": e.image_store, "driver": e.driver, "root": e.root}
        if e.product == "Podman Engine" and caps.current.driver == "docker":
            problems.append("the engine is Podman: its Docker API has no BuildKit session, so "
                            "buildx's docker driver cannot build there; use a docker-container "
                            "builder (`docker buildx create --use`) or a Docker engine")
        if note := _default_socket(ep, e.id):
            notes.append(note)
        users: dict[str, list[str]] = {caps.current.name: []}     # builder -> its tiers
        seen: dict[str, BuilderInfo] = {caps.current.name: caps.current}
        for t in tiers.values():
            b = caps.builder(t.builder)
            users.setdefault(b.name, []).append(t.name)
            seen.setdefault(b.name, b)
            if not b.reachable:
                problems.append(f"[tiers.{t.name}]: {b.problem}")
        for n, b in seen.items():
            if b.reachable and b.driver == "docker" and not b.same_engine:
                notes.append(f"builder {n} (tiers {', '.join(users.get(n, []))}) is another "
                             f"engine than the run's, at {b.endpoint or '?'}: allowed; its "
                             "images and parents cross through the registry")
        if cfg is not None:
            out["builders"] = [_builder_json(b, users.get(n, []), cfg) for n, b in seen.items()]
            current = next(b for b in out["builders"] if b["current"])
            out["cache"] = current["cache"]
        else:
            cur = caps.current
            out["builders"] = [{"name": cur.name, "driver": cur.driver,
                                "endpoint": cur.endpoint, "current": True,
                                "reachable": cur.reachable, "tiers": []}]
        if cfg is not None and all(caps.builder(t.builder).reachable for t in tiers.values()):
            graph_parents = _parents(cfg)
            builder_of = {n: caps.builder(cfg.tiers[i.tier].builder)
                          for n, i in cfg.images.items()}
            try:
                parent_plan(cfg.images, graph_parents, builder_of, registry=cfg.registry)
            except BuildorchError as exc:
                problems.append(str(exc))
    if cfg is not None and cfg.registry:
        out["registry"] = probe_registry(cfg.registry)
        if not out["registry"]["reachable"]:
            problems.append(f"registry {cfg.registry} does not answer at "
                            f"{out['registry']['host']} ({out['registry']['answer']}): "
                            "start it or fix [project] registry; registry caches and reuse "
                            "need it")
    out["disk"] = _disk(engine, tiers, problems)
    if out["disk"]["where"] and "not on this machine" in out["disk"]["where"]:
        notes.append("the engine's data root is not on this machine (a VM or another host): "
                     "free disk is measured inside the engine, in a throwaway container")
    return out


def _parents(cfg: Config) -> dict[str, tuple[str, ...]]:
    from buildorch.planning import baseline

    try:
        snap = baseline.work_snapshot(cfg)
    except BuildorchError:
        return {n: i.depends_on for n, i in cfg.images.items()}
    return {n: tuple(snap.graph.parents(n)) for n in cfg.images}


def _disk(engine: Engine, tiers: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    from buildorch.ops.disk import free_bytes
    from buildorch.units import format_size as human

    try:
        free, where = free_bytes(engine)
    except BuildorchError as exc:
        problems.append(str(exc))
        return {"free": None, "where": None, "tiers": {}}
    per: dict[str, Any] = {}
    for t in tiers.values():
        ok = free >= t.min_free
        per[t.name] = {"min_free": t.min_free, "ok": ok}
        if not ok:
            problems.append(f"[tiers.{t.name}]: {human(free)} free in {where}, min_free is "
                            f"{human(t.min_free)}: free space (`buildorch clean`, `docker "
                            "builder prune`) or lower min_free")
    return {"free": free, "where": where, "tiers": per}


def lines(d: dict[str, Any]) -> list[str]:
    """The report as text, one fact a line."""
    from buildorch.units import format_size as human

    out: list[str] = []
    if d["endpoint"]:
        out.append(f"endpoint  {d['endpoint']['text']}")
    e = d["engine"]
    if e:
        out.append(f"engine    {e['product']} {e['version']} (API {e['api']}), "
                   f"{e['image_store']} image store ({e['driver']}), data in {e['root']}")
    out.append(f"buildx    {d['buildx'] or 'missing'}")
    for b in d["builders"]:
        head = (f"builder   {b['name']}{' (current)' if b['current'] else ''}: {b['driver']} "
                f"driver at {b['endpoint'] or '?'}")
        if b.get("image_store"):
            head += f", {b['image_store']} image store"
        if b.get("same_engine") is False and b["driver"] == "docker":
            head += ", another engine"
        head += "" if b["reachable"] else ", NOT REACHABLE"
        out.append(head)
        if b["tiers"]:
            out.append(f"          tiers: {', '.join(b['tiers'])}")
        if "can_export" in b:
            out.append(f"          can export caches: {', '.join(b['can_export'])}")
        if "parents" in b:
            out.append(f"          parents: {b['parents']}")
        if "cache" in b:
            c = b["cache"]
            out.append(f"          cache from: {', '.join(c['from']) or '-'}; "
                       f"to: {', '.join(c['to']) or '-'}")
            out.extend(f"            {w}" for w in c["why"])
            out.extend(f"          note: {n}" for n in c["notes"])
    r = d["registry"]
    if r:
        state = "answers" if r["reachable"] else f"does not answer ({r['answer']})"
        out.append(f"registry  {r['name']}: {state}; push {r['push']}")
    else:
        out.append("registry  none configured ([project] registry)")
    dk = d["disk"]
    if dk and dk["free"] is not None:
        out.append(f"disk      {human(dk['free'])} free in {dk['where']}")
        for name, t in dk["tiers"].items():
            if t["min_free"]:
                out.append(f"          {name}: min_free {human(t['min_free'])} "
                           f"{'ok' if t['ok'] else 'BELOW'}")
    out.extend(f"note      {n}" for n in d["notes"])
    if d["problems"]:
        out.append(f"{len(d['problems'])} problem(s):")
        out.extend(f"  - {p}" for p in d["problems"])
    else:
        out.append("no problems found")
    return out

