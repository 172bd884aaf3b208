"""What the engine and each tier's builder are, asked once per run (about 0.1 s per builder).

`docker info` (through docker-py) for the engine; `docker buildx inspect [NAME]` for a builder
(its driver and endpoint); for a docker-driver builder, which is a docker context,
`docker context inspect` and `docker --context NAME info` for its address, image store and
whether it is this same engine (the engine ID tells). What follows from the facts is decided in
`running/strategy.py` and `running/cache.py`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from buildorch.edges import proc
from buildorch.edges.endpoint import DEFAULT_CONTEXT, Endpoint, config_dir, current
from buildorch.edges.engine import Engine
from buildorch.errors import BuildorchError

CLASSIC = "classic"
CONTAINERD = "containerd"


@dataclass(frozen=True)
class BuilderInfo:
    """One builder as buildx and the engine describe it."""

    name: str                   # buildx builder / docker context name
    driver: str                 # docker | docker-container | remote | kubernetes | ...
    endpoint: str               # the context's engine address, or the node's endpoint
    current: bool = False       # the current builder (no `builder` in the tier)
    same_engine: bool = True    # its images land in the engine buildorch talks to
    image_store: str | None = None   # docker driver: "containerd" | "classic"
    reachable: bool = True
    problem: str = ""           # why it is unusable, if it is

    @property
    def persists_cache(self) -> bool:
        """The docker driver's engine keeps its build cache; a container builder may not."""
        return self.driver == "docker"

    @property
    def via_registry(self) -> bool:
        """Its results reach other builders (and the local engine) only through the registry."""
        return not (self.driver == "docker" and self.same_engine)

    @property
    def docker_context(self) -> str | None:
        """Docker-driver builders are docker contexts: run `docker --context NAME buildx`
        (buildx refuses `--builder NAME` for them)."""
        return self.name if self.driver == "docker" and not self.current else None

    @property
    def buildx_builder(self) -> str | None:
        return self.name if self.driver != "docker" and not self.current else None

    def describe(self) -> str:
        store = f", {self.image_store} image store" if self.image_store else ""
        where = "" if self.same_engine else f" at {self.endpoint}"
        return f"builder {self.name!r} ({self.driver} driver{store}{where})"

    def can_export(self, kind: str) -> bool:
        if kind == "inline" or self.driver != "docker":
            return True
        return self.image_store == CONTAINERD


@dataclass(frozen=True)
class EngineInfo:
    version: str
    api: str
    image_store: str        # "containerd" | "classic"
    driver: str             # storage driver: overlayfs (containerd), overlay2, ...
    id: str
    root: str               # DockerRootDir
    product: str = "Docker Engine"   # or "Podman Engine": its Docker API has no BuildKit


def product(version: Mapping[str, object]) -> str:
    """The engine behind the Docker API, from `GET /version`'s Components: Podman names
    itself there ("Podman Engine"); Docker says "Engine"."""
    for c in version.get("Components") or []:  # type: ignore[attr-defined]
        if isinstance(c, dict) and "podman" in str(c.get("Name", "")).lower():
            return "Podman Engine"
    return "Docker Engine"


@dataclass(frozen=True)
class Capabilities:
    engine: EngineInfo
    current: BuilderInfo
    builders: Mapping[str, BuilderInfo] = field(default_factory=dict)   # tier builder names

    def builder(self, name: str | None) -> BuilderInfo:
        """The builder a tier uses: its `builder`, else the current one."""
        return self.builders[name] if name else self.current


def engine_info(engine: Engine) -> EngineInfo:
    info = engine.client.info()
    try:
        version = engine.client.version()
    except Exception:  # an old engine without /version fields: the API is only shown
        version = {}
    return EngineInfo(version=str(info.get("ServerVersion", "")),
                      api=str(version.get("ApiVersion", "")),
                      image_store=image_store(info), driver=str(info.get("Driver", "")),
                      id=str(info.get("ID", "")), root=str(info.get("DockerRootDir", "")),
                      product=product(version))


def _fields(text: str) -> dict[str, str]:
    """`docker buildx inspect` output: the first value of each `Key: value` line."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.startswith(" ") and key.strip() not in out:
            out[key.strip()] = value.strip()
    return out


def default_builder_is_current(ep: Endpoint) -> bool:
    """Known without asking buildx (0.15 s): no builder was chosen (neither BUILDX_BUILDER nor
    `docker buildx use`, which writes buildx's `current` file) and the run's engine is the
    default context (DOCKER_HOST or the default socket), so the current builder is the docker
    driver on that engine. Anything unsure: False, and buildx is asked."""
    if os.environ.get("BUILDX_BUILDER") or ep.context != DEFAULT_CONTEXT:
        return False
    buildx_dir = Path(os.environ.get("BUILDX_CONFIG") or config_dir(os.environ) / "buildx")
    try:
        chosen = json.loads((buildx_dir / "current").read_text())
    except FileNotFoundError:
        return True
    except (OSError, ValueError):
        return False
    return isinstance(chosen, dict) and chosen.get("Name") in (None, "", "default")


def inspect_builder(name: str | None, local: EngineInfo | Callable[[], EngineInfo]
                    ) -> BuilderInfo:
    """One builder (None: the current one); `local` (or a call that gives it, so that both are
    asked at once) is this engine. Raises BuildorchError if buildx itself fails."""
    ep = current()
    if name is None and default_builder_is_current(ep):
        local = local() if callable(local) else local
        return BuilderInfo("default", "docker", ep.host,
                           current=True, image_store=local.image_store)
    p = proc.run(["docker", "buildx", "inspect", *([name] if name else [])], check=False)
    if p.returncode != 0:
        err = (p.stderr or p.stdout).decode("utf-8", "replace").strip().splitlines()
        if name is None:
            raise BuildorchError("`docker buildx inspect` failed"
                                 + (f" ({err[-1]})" if err else "")
                                 + ": install the buildx plugin (Debian: docker-buildx)")
        return BuilderInfo(name, "?", "", reachable=False, same_engine=False, problem=(
            f"buildx builder {name!r} does not exist; create it (`docker buildx create --name "
            f"{name} ...`, or `docker context create {name} --docker host=...`) or remove "
            "`builder` from the tier"))
    if callable(local):
        local = local()
    f = _fields(p.stdout.decode("utf-8", "replace"))
    bname, driver = f.get("Name", name or "default"), f.get("Driver", "docker")
    endpoint = f.get("Endpoint", "")
    if driver != "docker":
        status = f.get("Status", "")
        bad = status == "error"
        return BuilderInfo(bname, driver, endpoint, current=name is None, same_engine=False,
                           reachable=not bad, problem=(
                               f"buildx builder {bname!r} ({driver}) is in error: see `docker "
                               f"buildx inspect {bname}`, recreate it or remove `builder` from "
                               "the tier") if bad else "")
    # A docker-driver builder is a docker context: where does it point, and is it us?
    ctx = endpoint or bname
    if ctx == ep.context:
        # The run's own context (docker subprocesses are pinned to it): this engine.
        return BuilderInfo(bname, driver, ep.host,
                           current=name is None, image_store=local.image_store)
    host = proc.run(["docker", "context", "inspect", ctx, "--format",
                     "{{.Endpoints.docker.Host}}"], check=False)
    address = host.stdout.decode().strip() if host.returncode == 0 else ctx
    q = proc.run(["docker", "--context", ctx, "info", "--format", "{{json .}}"], check=False)
    try:
        info = json.loads(q.stdout) if q.returncode == 0 else {}
    except ValueError:
        info = {}
    if not info.get("ID"):
        return BuilderInfo(bname, driver, address, current=name is None, same_engine=False,
                           reachable=False,
                           problem=(f"builder {bname!r} (docker context): its engine at "
                                    f"{address} does not answer `docker info`; start it, or "
                                    "remove `builder` from the tier"))
    return BuilderInfo(bname, driver, address, current=name is None,
                       same_engine=info["ID"] == local.id, image_store=image_store(info))


def detect(engine: Engine, builder_names: Iterable[str | None]) -> Capabilities:
    """The engine, the current builder and each named builder (a tier's `builder`)."""
    named = sorted({b for b in builder_names if b})
    with ThreadPoolExecutor(max_workers=len(named) + 2) as pool:   # ~0.15 s each, all at once
        local = pool.submit(engine_info, engine)
        current = pool.submit(inspect_builder, None, local.result)
        found = list(pool.map(lambda n: inspect_builder(n, local.result), named))
        return Capabilities(local.result(), current.result(),
                            dict(zip(named, found, strict=True)))


def image_store(info: Mapping[str, object]) -> str:
    """`docker info`: the containerd snapshotter reports DriverStatus [["driver-type",
    "io.containerd.snapshotter.v1"]]; a graph driver (overlay2, ...) is the classic store."""
    for row in info.get("DriverStatus") or ():   # type: ignore[attr-defined]
        if isinstance(row, list | tuple) and len(row) == 2 and \
                "io.containerd.snapshotter" in str(row[1]):
            return CONTAINERD
    return CLASSIC
