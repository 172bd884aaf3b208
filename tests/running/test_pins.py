"""Which FROM names a child's build binds to its parent (`--build-context`), keyed by every
reference the child uses for it. Pure: a fake engine stands in for the push (the real push
and pin are covered by tests/running/test_engines.py and test_registry_change.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from buildorch.config import load
from buildorch.planning.baseline import work_snapshot
from buildorch.planning.links import config_links
from buildorch.running.options import BuildOptions
from buildorch.running.registry import Registry
from buildorch.running.spec import spec_for
from buildorch.running.strategy import ParentPlan, Strategy
from tests.helpers import git, write_files

DIGEST = "sha256:" + "ef" * 32


class _Engine:
    def __init__(self) -> None:
        self.tagged: list[tuple[str, str]] = []
        self.pushes: list[str] = []

    def tag(self, src: str, dst: str) -> None:
        self.tagged.append((src, dst))

    def push(self, ref: str) -> str:
        self.pushes.append(ref)
        return DIGEST


def _run(tmp_path: Path, pins: dict[str, tuple[str, ...]]) -> tuple[Registry, Any]:
    git(tmp_path, "init", "-q")
    write_files(tmp_path, {
        "base.Dockerfile": "FROM busybox:1.36\n",
        "tool.Dockerfile": "FROM acme/base\nFROM acme/base:1.3 AS second\n",
        "py.Dockerfile": "FROM busybox:1.36\n",
        "svc.Dockerfile": "FROM ghcr.io/old/py:latest\n",
        # a named context overrides a FROM that names a parent's tag; a target: one is a parent
        "ctx.Dockerfile": "FROM acme/base\nCOPY --from=root /bin/sh /sh\n",
        "services.toml": '[project]\nregistry = "127.0.0.1:5000/me"\n'
                         '[base.base]\ndockerfile = "base.Dockerfile"\n'
                         'tags = ["acme/base:1.3", "acme/base:latest"]\n'
                         'labels = { "org.opencontainers.image.version" = "1.3" }\n'
                         '[base.py]\ndockerfile = "py.Dockerfile"\n'
                         '[services.tool]\ndockerfile = "tool.Dockerfile"\n'
                         '[services.svc]\ndockerfile = "svc.Dockerfile"\n'
                         '[services.ctx]\ndockerfile = "ctx.Dockerfile"\n'
                         'contexts = { "acme/base" = "docker-image://busybox:1.36", '
                         'root = "target:base" }\n'})
    cfg = load(tmp_path / "services.toml")
    snap = work_snapshot(cfg)
    strategy = Strategy(caps=cast(Any, None), cache={},
                        parents=ParentPlan(frozenset(), frozenset(), frozenset(), pins),
                        notes=())
    links = config_links(cfg, {n: i.external_images for n, i in snap.inputs.items()})
    run = Registry(cfg, cast(Any, _Engine()), snap, strategy, lambda e: None, links=links)
    return run, cfg


def test_same_engine_binds_only_names_that_are_not_the_parents_tags(tmp_path: Path) -> None:
    run, cfg = _run(tmp_path, {})
    tool = run.pinned(spec_for(cfg, "tool", run.snap.records["tool"], BuildOptions()))
    assert tool.build_contexts == ()     # both FROMs name tags of base, loaded by its build
    svc = run.pinned(spec_for(cfg, "svc", run.snap.records["svc"], BuildOptions()))
    assert svc.build_contexts == (
        ("ghcr.io/old/py:latest", "docker-image://127.0.0.1:5000/me/py:latest"),)


def test_another_builder_binds_every_name_to_the_pushed_digest(tmp_path: Path) -> None:
    run, cfg = _run(tmp_path, {"tool": ("base",), "svc": ("py",)})
    tool = run.pinned(spec_for(cfg, "tool", run.snap.records["tool"], BuildOptions()))
    source = f"docker-image://127.0.0.1:5000/me/base@{DIGEST}"
    assert dict(tool.build_contexts) == {"acme/base:1.3": source, "acme/base:latest": source}
    svc = run.pinned(spec_for(cfg, "svc", run.snap.records["svc"], BuildOptions()))
    source = f"docker-image://127.0.0.1:5000/me/py@{DIGEST}"
    assert dict(svc.build_contexts) == {"127.0.0.1:5000/me/py:latest": source,
                                        "ghcr.io/old/py:latest": source}


def test_every_tag_and_label_goes_to_the_build(tmp_path: Path) -> None:
    run, cfg = _run(tmp_path, {})
    spec = spec_for(cfg, "base", run.snap.records["base"], BuildOptions())
    assert spec.tags == ("acme/base:1.3", "acme/base:latest")
    assert ("org.opencontainers.image.version", "1.3") in spec.labels
    run.tag_all("base")
    engine = cast(_Engine, run.engine)
    assert engine.tagged == [("acme/base:1.3", "acme/base:latest")]


def test_a_named_context_wins_over_a_from_pin_of_the_same_name(tmp_path: Path) -> None:
    """BuildKit looks `FROM acme/base` up as the context `acme/base`: the image's own one is
    passed, never a second --build-context for that name; `target:base` makes base a parent."""
    run, cfg = _run(tmp_path, {})
    assert list(run.snap.graph.parents("ctx")) == ["base"]
    ctx = run.pinned(spec_for(cfg, "ctx", run.snap.records["ctx"], BuildOptions()))
    assert ctx.build_contexts == (("acme/base", "docker-image://busybox:1.36"),
                                  ("root", "docker-image://acme/base:1.3"))

    run, cfg = _run(tmp_path, {"ctx": ("base",)})   # base built on another builder
    ctx = run.pinned(spec_for(cfg, "ctx", run.snap.records["ctx"], BuildOptions()))
    names = [n for n, _ in ctx.build_contexts]
    assert len(names) == len(set(names))
    source = f"docker-image://127.0.0.1:5000/me/base@{DIGEST}"
    assert dict(ctx.build_contexts) == {"acme/base": "docker-image://busybox:1.36",
                                        "root": source, "acme/base:1.3": source}


def test_only_the_tag_of_its_inputs_is_shared(tmp_path: Path) -> None:
    """An image of several tags, loaded: none of its own tags goes to a registry after the
    build; the bo-<digest> tag does when the registry cache added it."""
    run, cfg = _run(tmp_path, {})
    engine = cast(_Engine, run.engine)
    spec = spec_for(cfg, "base", run.snap.records["base"], BuildOptions())
    run.share("base", spec)
    assert engine.pushes == []
    spec = run.tagged(spec, run.snap.records["base"].digest, ("registry",))
    run.share("base", spec)
    assert engine.pushes == [f"127.0.0.1:5000/me/base:bo-{run.snap.records['base'].digest[:12]}"]
