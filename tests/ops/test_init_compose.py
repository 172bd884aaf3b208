"""`buildorch init --from-compose`: a services.toml from compose build: sections."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from buildorch.config import load
from buildorch.errors import BuildorchError
from buildorch.ops.compose import read_yaml
from tests.helpers import bo

COMPOSE = """\
# two base images, three services, one image from a registry
services:
  python-base:
    build:
      context: .
      dockerfile: docker/base.Dockerfile
      args:
        PYTHON_VERSION: "3.11"
    image: registry.example/acme/python-base:1.0
  python-ml:
    build:
      context: .
      dockerfile: docker/ml.Dockerfile
    image: 'registry.example/acme/python-ml:1.0'   # a quoted scalar
  api:
    build: services/api
    image: registry.example/acme/api:1.0
    ports: ["8000:8000"]
    depends_on:
      - db
  worker:
    build:
      context: ./services/worker
      args:
        - BASE=registry.example/acme/python-ml:1.0
      target: runtime
    image: registry.example/acme/worker:1.0
    command: >
      python -m worker
      --queue default
  web:
    build:
      context: services/web
    image: registry.example/acme/web:1.0
  db:
    image: postgres:16
"""

FILES = {
    "docker-compose.yml": COMPOSE,
    "docker/base.Dockerfile": "FROM python:3.11-slim\nARG PYTHON_VERSION\n",
    "docker/ml.Dockerfile": "ARG REGISTRY=registry.example/acme\n"
                            "FROM ${REGISTRY}/python-base:1.0\n",
    "services/api/Dockerfile": "FROM registry.example/acme/python-ml:1.0\nCOPY app.py /app/\n",
    "services/api/app.py": "",
    "services/worker/Dockerfile": "ARG BASE\nFROM ${BASE} AS runtime\nCOPY . /app\n",
    "services/web/Dockerfile": "FROM registry.example/acme/python-base:1.0 AS build\n"
                               "FROM nginx:1.27\nCOPY --from=build /srv /usr/share/nginx\n",
}


def test_compose_import_gives_a_plannable_config(make_repo: Callable[..., Path]) -> None:
    repo = make_repo(FILES)
    proc = bo(repo, "init", "--from-compose", "docker-compose.yml")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == ("wrote services.toml: 5 image(s), 2 base image(s), "
                                           "from docker-compose.yml")
    assert "without build: left out: db" in proc.stderr

    cfg = load(repo / "services.toml")
    assert cfg.registry == "registry.example/acme" and cfg.tag == "1.0"
    assert list(cfg.tiers) == ["foundation", "tier-1", "services"]
    kinds = {n: (i.kind, i.tier) for n, i in cfg.images.items()}
    assert kinds == {"python-base": ("base", "foundation"), "python-ml": ("base", "tier-1"),
                     "api": ("service", "services"), "worker": ("service", "services"),
                     "web": ("service", "services")}
    worker = cfg.images["worker"]
    assert (worker.context, worker.dockerfile, worker.target) == (
        "services/worker", "services/worker/Dockerfile", "runtime")
    assert dict(worker.args) == {"BASE": "registry.example/acme/python-ml:1.0"}
    assert dict(cfg.images["python-base"].args) == {"PYTHON_VERSION": "3.11"}

    plan = bo(repo, "plan", "--json")
    assert plan.returncode == 0, plan.stderr
    stale = json.loads(plan.stdout)["stale"]
    order = [s["name"] for s in stale]
    assert order.index("python-base") < order.index("python-ml") < order.index("api")
    reasons = {s["name"]: s["reasons"] for s in stale}
    assert "parent python-base rebuilt" in reasons["python-ml"]
    assert "parent python-ml rebuilt" in reasons["api"]
    assert "parent python-ml rebuilt" in reasons["worker"]   # through the build arg
    assert "parent python-base rebuilt" in reasons["web"]    # through a named stage

    graph = json.loads(bo(repo, "graph", "--format", "json").stdout)
    assert graph, "graph --format json works on the written file"


def test_refuses_to_overwrite_without_force(make_repo: Callable[..., Path]) -> None:
    repo = make_repo({**FILES, "services.toml": "# mine\n"})
    proc = bo(repo, "init", "--from-compose", "docker-compose.yml")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"buildorch: error: {repo / 'services.toml'} already exists; pass --force to "
        "overwrite it (or --output OTHER.toml)"]
    assert (repo / "services.toml").read_text() == "# mine\n"
    forced = bo(repo, "init", "--from-compose", "docker-compose.yml", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "[base.python-base]" in (repo / "services.toml").read_text()


def test_output_elsewhere_keeps_paths_right(make_repo: Callable[..., Path]) -> None:
    repo = make_repo(FILES)
    proc = bo(repo, "init", "--from-compose", "docker-compose.yml", "-o", "ci/services.toml")
    assert proc.returncode == 0, proc.stderr
    cfg = load(repo / "ci" / "services.toml")
    assert cfg.images["api"].dockerfile == "services/api/Dockerfile"
    assert bo(repo, "--config", "ci/services.toml", "plan").returncode == 0


@pytest.mark.parametrize(("snippet", "line", "what"), [
    ("x-common: &common\n  context: .\nservices: {}\n", 1, "an anchor (&)"),
    ("services:\n  a:\n    build: *common\n", 3, "an alias (*)"),
    ("services:\n  a:\n    <<: {}\n", 3, "a merge key (<<)"),
    ("services:\n  a: {build: .}\n", 2, "a flow mapping ({...})"),
    ("services:\n  a:\n    build: .\n---\nservices: {}\n", 4, "several YAML documents (---)"),
    ("services:\n  a:\n    build: !reset .\n", 3, "a tag (!)"),
])
def test_unsupported_yaml_names_the_line(snippet: str, line: int, what: str) -> None:
    with pytest.raises(BuildorchError, match=rf"^c\.yml:{line}: unsupported YAML: "
                                             rf"{re.escape(what)}; "):
        read_yaml(snippet, "c.yml")


def test_unsupported_yaml_is_one_line_on_the_cli(make_repo: Callable[..., Path]) -> None:
    repo = make_repo({"docker-compose.yml": "services:\n  a:\n    build: &b .\n"})
    proc = bo(repo, "init", "--from-compose", "docker-compose.yml")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "buildorch: error: docker-compose.yml:3: unsupported YAML: an anchor (&); write the "
        "value out in full (buildorch reads a subset of YAML)"]
    assert not (repo / "services.toml").exists()


def test_yaml_subset_values() -> None:
    text = ("# comment\n"
            "a:\n"
            "- x: 1  # trailing\n"
            "  y: 'it''s'\n"
            "- \"q # not a comment\"\n"
            "- [one, 'two', \"3\"]\n"
            "b: |\n"
            "  line 1\n"
            "\n"
            "  line 2\n"
            "c: ~\n"
            "d:\n"
            "e: {}\n"
            "f: http://x:80/a\n")
    assert read_yaml(text) == {
        "a": [{"x": "1", "y": "it's"}, "q # not a comment", ["one", "two", "3"]],
        "b": "line 1\n\nline 2\n", "c": None, "d": None, "e": {}, "f": "http://x:80/a"}
