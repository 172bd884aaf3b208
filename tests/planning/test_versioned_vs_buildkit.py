"""Versioned images judged by BuildKit: one repository, one bake file per version, targets of
the same name in every file, FROM by tag (`acme/base:1.2`, `acme/base:latest`).

`buildorch init` must place every image and link every FROM; after each edit the planner's
stale set must be exactly the set of images whose real build (`docker buildx build` of every
image, parents first, each FROM resolved by the engine) misses BuildKit's cache.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import buildorch
from buildorch.config import load
from buildorch.planning.baseline import work_snapshot
from buildorch.running.buildx import run_build
from buildorch.running.spec import BuildSpec
from tests.helpers import SESSION, bo, docker, git, record_manifest, write_files

pytestmark = pytest.mark.usefixtures("engine")

NS = f"bo-test-{SESSION}-acme"    # docker.io implied: `acme/base:1.2` as the issue writes it


def versioned_files(ns: str, nonce: str) -> dict[str, str]:
    files: dict[str, str] = {}
    for v in ("1.2", "1.3"):
        base_tags = [f"{ns}/base:{v}"] + ([f"{ns}/base:latest"] if v == "1.3" else [])
        files[f"bake/{v}.docker-bake.json"] = json.dumps({
            "group": {"default": {"targets": ["base", "app"]}},
            "target": {
                "_common": {"labels": {"org.opencontainers.image.vendor": "acme"}},
                "base": {"inherits": ["_common"], "context": ".",
                         "dockerfile": f"images/base_{v}.Dockerfile", "tags": base_tags,
                         "labels": {"org.opencontainers.image.version": v}},
                "app": {"context": "./", "dockerfile": f"images/app_{v}.Dockerfile",
                        "tags": [f"{ns}/app:{v}"], "args": {"FLAVOUR": v}},
                "app-alias": {"inherits": ["app"]},     # only inherits: not an image
            }}, indent=1)
        files[f"images/base_{v}.Dockerfile"] = (
            f"FROM busybox:1.36\nCOPY base/{v}/ /base/\nRUN cat /base/* > /base.txt\n")
        files[f"images/app_{v}.Dockerfile"] = (
            f"FROM {ns}/base:{v}\nARG FLAVOUR\nCOPY app/ /app/\n"
            "RUN echo $FLAVOUR > /flavour && cat /base.txt > /app/base.txt\n")
        files[f"base/{v}/version.txt"] = f"{v} {nonce}\n"
    files["bake/tool.docker-bake.json"] = json.dumps({"target": {"tool": {
        "dockerfile": "images/tool.Dockerfile", "tags": [f"{ns}/tool:1"]}}})
    files["images/tool.Dockerfile"] = (f"FROM {ns}/base\nCOPY tool/ /tool/\n"
                                       "RUN cat /base.txt > /tool/base.txt\n")
    files["tool/run.sh"] = f"echo {nonce}\n"
    files["app/main.py"] = f"print('{nonce}')\n"
    files[".dockerignore"] = ".git\n.buildorch\n"
    files[".gitignore"] = ".buildorch/\n"
    return files


EDGES = {("base_1.2", "app_1.2"), ("base_1.3", "app_1.3"), ("base_1.3", "tool")}


@pytest.fixture
def versioned(make_repo: Callable[..., Path]) -> Iterator[Path]:
    repo = make_repo(versioned_files(NS, uuid.uuid4().hex))
    yield repo
    tags = [t for t in docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}").split()
            if t.startswith(f"{NS}/")]
    if tags:
        docker("rmi", "-f", *tags, check=False)


def _graph_edges(repo: Path) -> set[tuple[str, str]]:
    p = bo(repo, "graph", "--format", "json")
    assert p.returncode == 0, p.stderr
    return {(parent, i["name"]) for i in json.loads(p.stdout)["images"] for parent in i["parents"]}


def _buildkit_misses(repo: Path) -> set[str]:
    """Build every image as CI would, parents first; the images with a cache miss."""
    cfg = load(repo / "services.toml")
    graph = work_snapshot(cfg).graph
    missed: set[str] = set()
    for name in graph.order():
        image = cfg.images[name]
        spec = BuildSpec(name=name, tags=cfg.refs(name), dockerfile=repo / image.dockerfile,
                         context=repo / image.context, build_args=image.args,
                         labels=image.labels)
        res = run_build(spec, emit=lambda e: None, cancel=threading.Event(),
                        log_path=repo / ".buildorch" / f"{name}.log", timeout_s=120,
                        step_timeout_s=None)
        assert res.ok, res.log_tail
        if res.cached_steps < res.steps:
            missed.add(name)
    return missed


def _planner_stale(repo: Path) -> set[str]:
    return {s.name for s in buildorch.plan(buildorch.load_config(repo / "services.toml"))
            .plan.stale}


def test_init_links_every_versioned_from(versioned: Path) -> None:
    init = bo(versioned, "init")
    assert init.returncode == 0, init.stderr
    cfg = load(versioned / "services.toml")
    assert set(cfg.images) == {"base_1.2", "base_1.3", "app_1.2", "app_1.3", "tool"}
    assert cfg.refs("base_1.3") == (f"{NS}/base:1.3", f"{NS}/base:latest")
    assert dict(cfg.images["base_1.2"].labels) == {
        "org.opencontainers.image.vendor": "acme", "org.opencontainers.image.version": "1.2"}
    assert dict(cfg.images["app_1.3"].args) == {"FLAVOUR": "1.3"}
    assert _graph_edges(versioned) == EDGES
    assert "3 bake file(s) (each as `docker buildx bake -f FILE` run from the repository " \
        "root)" in init.stdout


def _edit(path: str) -> Callable[[Path, str], None]:
    def apply(repo: Path, nonce: str) -> None:
        write_files(repo, {path: f"{nonce}\n"})
    return apply


# (case, edit, the images BuildKit rebuilds: asserted of BuildKit too)
CASES: list[tuple[str, Callable[[Path, str], None], set[str]]] = [
    ("base 1.2 edited", _edit("base/1.2/version.txt"), {"base_1.2", "app_1.2"}),
    ("base 1.3 (carries latest) edited", _edit("base/1.3/version.txt"),
     {"base_1.3", "app_1.3", "tool"}),
    ("app sources edited", _edit("app/main.py"), {"app_1.2", "app_1.3"}),
    ("tool edited", _edit("tool/run.sh"), {"tool"}),
    ("a file nobody reads", _edit("docs/notes.txt"), set()),
]


def test_versioned_edits_rebuild_exactly_what_buildkit_rebuilds(versioned: Path) -> None:
    assert bo(versioned, "init").returncode == 0
    git(versioned, "add", "-A")
    git(versioned, "commit", "-qm", "init")
    _buildkit_misses(versioned)
    assert _buildkit_misses(versioned) == set(), "the baseline must be fully cached"
    record_manifest(versioned)
    assert _planner_stale(versioned) == set()
    for case, edit, rebuilds in CASES:
        edit(versioned, uuid.uuid4().hex)
        stale = _planner_stale(versioned)
        missed = _buildkit_misses(versioned)
        assert missed == rebuilds, f"BuildKit itself, {case}: rebuilt {sorted(missed)}"
        assert stale == missed, f"{case}: planner {sorted(stale)}, BuildKit {sorted(missed)}"
        record_manifest(versioned)


def test_latest_follows_the_image_that_carries_it(versioned: Path) -> None:
    """Moving `latest` from 1.3 to 1.2 moves `tool` under base_1.2, and a 1.2 edit then
    rebuilds it (as BuildKit does: its FROM resolves to the image now tagged latest)."""
    assert bo(versioned, "init").returncode == 0
    toml = versioned / "services.toml"
    text = toml.read_text()
    text = text.replace(f'    "{NS}/base:latest",\n', "")
    one_two = f'    "{NS}/base:1.2",\n'
    text = text.replace(one_two, f'{one_two}    "{NS}/base:latest",\n')
    toml.write_text(text)
    assert _graph_edges(versioned) == {("base_1.2", "app_1.2"), ("base_1.3", "app_1.3"),
                                       ("base_1.2", "tool")}
    _buildkit_misses(versioned)
    record_manifest(versioned)
    _edit("base/1.2/version.txt")(versioned, uuid.uuid4().hex)
    assert _planner_stale(versioned) == _buildkit_misses(versioned) == {
        "base_1.2", "app_1.2", "tool"}


def test_buildorch_build_follows_latest_when_it_moves(versioned: Path) -> None:
    """After `latest` moves from 1.3 to 1.2 in services.toml, `buildorch build` puts the new
    tag on base_1.2 (the engine's `latest` is base_1.3's: not the image it should be) and
    builds tool on it."""
    assert bo(versioned, "init").returncode == 0
    b = bo(versioned, "build", "--progress", "plain", "--no-smoke", timeout=300)
    assert b.returncode == 0, b.stdout + b.stderr
    seen = docker("run", "--rm", "--network", "none", f"{NS}/tool:1", "cat", "/tool/base.txt")
    assert seen.split()[0] == "1.3"
    toml = versioned / "services.toml"
    one_two = f'    "{NS}/base:1.2",\n'
    toml.write_text(toml.read_text().replace(f'    "{NS}/base:latest",\n', "")
                    .replace(one_two, f'{one_two}    "{NS}/base:latest",\n'))
    b = bo(versioned, "build", "--progress", "plain", "--no-smoke", timeout=300)
    assert b.returncode == 0, b.stdout + b.stderr
    seen = docker("run", "--rm", "--network", "none", f"{NS}/tool:1", "cat", "/tool/base.txt")
    assert seen.split()[0] == "1.2", b.stdout
