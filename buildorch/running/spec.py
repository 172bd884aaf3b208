"""Build specs: one image's build as a frozen spec, and the `docker buildx build` argv it
becomes (never a shell string)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from buildorch.config import Config, context_kind
from buildorch.edges.capabilities import BuilderInfo
from buildorch.edges.engine import LABEL_DIGEST, LABEL_NAME
from buildorch.edges.state import Record
from buildorch.running.cache import CachePlan, cache_args, cache_plan, in_github_actions, local_dir
from buildorch.running.options import BuildOptions


@dataclass(frozen=True)
class BuildSpec:
    name: str
    tags: tuple[str, ...]
    dockerfile: Path
    context: Path
    target: str | None = None
    platform: str | None = None
    build_args: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    push: bool = False
    builder: str | None = None           # a buildx builder (--builder NAME)
    docker_context: str | None = None    # a docker-driver builder: `docker --context NAME buildx`
    build_contexts: tuple[tuple[str, str], ...] = ()   # FROM name -> docker-image://REPO@sha256:…
    metadata_file: Path | None = None
    no_cache: bool = False            # recovery from an interrupted export only


def argv(spec: BuildSpec) -> list[str]:
    cmd = ["docker", *(["--context", spec.docker_context] if spec.docker_context else []),
           "buildx", "build"]
    if spec.builder:
        cmd += ["--builder", spec.builder]
    cmd += ["--file", str(spec.dockerfile), "--progress=rawjson", "--provenance=false"]
    for t in spec.tags:
        cmd += ["--tag", t]
    if spec.target:
        cmd += ["--target", spec.target]
    if spec.platform:
        cmd += ["--platform", spec.platform]
    for k, v in spec.build_args:
        cmd += ["--build-arg", f"{k}={v}"]
    for k, v in spec.labels:
        cmd += ["--label", f"{k}={v}"]
    for c in spec.cache_from:
        cmd += ["--cache-from", c]
    for c in spec.cache_to:
        cmd += ["--cache-to", c]
    if spec.no_cache:
        cmd += ["--no-cache"]
    for name, source in spec.build_contexts:
        cmd += ["--build-context", f"{name}={source}"]
    if spec.metadata_file:
        cmd += ["--metadata-file", str(spec.metadata_file)]
    cmd += ["--push" if spec.push else "--load", str(spec.context)]
    return cmd


DEFAULT_BUILDER = BuilderInfo("default", "docker", "", current=True, image_store="containerd")


def spec_for(cfg: Config, name: str, record: Record, opts: BuildOptions, *,
             cache: CachePlan | None = None, builder: BuilderInfo | None = None) -> BuildSpec:
    """The build of one image. `cache` and `builder` come from the run's capabilities; without
    them, the docker driver of a containerd-store engine is assumed."""
    image = cfg.images[name]
    builder = builder or DEFAULT_BUILDER
    cache = cache or cache_plan(cfg.cache_from, cfg.cache_to, opts.cache_to, builder)
    cache_from, cache_to = cache_args(
        cache.sources, cache.sinks, name=name, ref=cfg.ref(name),
        repository=cfg.repository(name) if cfg.registry else None,
        local_dir=local_dir(cfg, name), in_actions=in_github_actions())
    return BuildSpec(
        name=name,
        tags=cfg.refs(name),
        dockerfile=cfg.root / image.dockerfile,
        context=cfg.root / image.context,
        target=image.target,
        platform=image.platform or cfg.platform,
        build_args=tuple({**dict(image.args), "BUILDKIT_INLINE_CACHE": "1"}.items()),
        labels=(*image.labels, (LABEL_NAME, name), (LABEL_DIGEST, record.digest)),
        cache_from=cache_from,
        # BUILDKIT_INLINE_CACHE=1 is the inline cache (with --cache-to type=inline as well,
        # BuildKit refuses: "duplicate cache exports [inline]")
        cache_to=tuple(c for c in cache_to if c != "type=inline"),
        push=opts.push,
        builder=builder.buildx_builder,
        docker_context=builder.docker_context,
        build_contexts=tuple((n, named_context(cfg, v)) for n, v in image.contexts),
        metadata_file=cfg.state_dir / "meta" / f"{name}.json",
    )


def named_context(cfg: Config, value: str, pin: str | None = None) -> str:
    """A `contexts` value as `--build-context` takes it; a `target:` image by its tag, or by
    `pin` (a digest) when known."""
    kind, rest = context_kind(value)
    if kind == "path":
        return str(cfg.root / rest)
    if kind == "target":
        return f"docker-image://{cfg.repository(rest)}@{pin}" if pin else \
            f"docker-image://{cfg.ref(rest)}"
    return value

