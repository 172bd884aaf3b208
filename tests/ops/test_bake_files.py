"""Bake files: which are found and how they are grouped (bake's rules), and the docker-bake.json
`export bake` writes for images with tags, labels and FROM names under another registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildorch.config import load
from buildorch.ops.bake import bake_file, bake_groups, is_bake_file
from buildorch.ops.validate import check
from buildorch.planning.baseline import work_snapshot
from buildorch.planning.links import config_links
from tests.helpers import git, write_files


@pytest.mark.parametrize("path,yes", [
    ("docker-bake.hcl", True), ("docker-bake.json", True),
    ("docker-bake.override.hcl", True), ("sub/dir/docker-bake.json", True),
    ("bakefiles/4.1.2.docker-bake.json", True), ("bake/1.3.docker-bake.hcl", True),
    ("docker-bake.prod.hcl", True),
    ("docker-compose.yml", False), ("bake.json", False), ("docker-bake.yaml", False),
    ("notdocker-bake.json", False),
])
def test_bake_files_are_found_by_bakes_names(path: str, yes: bool) -> None:
    assert is_bake_file(path) == yes


def test_each_file_is_read_alone_an_override_with_its_file() -> None:
    paths = ["docker-bake.hcl", "docker-bake.override.hcl", "bake/1.2.docker-bake.json",
             "bake/1.3.docker-bake.json", "x/docker-bake.json", "x/docker-bake.override.json",
             "README.md"]
    assert sorted(bake_groups(paths)) == [
        ["bake/1.2.docker-bake.json"], ["bake/1.3.docker-bake.json"],
        ["docker-bake.hcl", "docker-bake.override.hcl"],
        ["x/docker-bake.json", "x/docker-bake.override.json"]]


def _repo(tmp_path: Path, toml: str) -> Path:
    git(tmp_path, "init", "-q")
    write_files(tmp_path, {
        "base.Dockerfile": "FROM busybox:1.36\n", "py.Dockerfile": "FROM busybox:1.36\n",
        "app.Dockerfile": "FROM acme/base:latest\n",
        "svc.Dockerfile": "FROM ghcr.io/old/py:latest\n", "services.toml": toml})
    return tmp_path / "services.toml"


TOML = ('[project]\nregistry = "127.0.0.1:5000/me"\n'
        '[base.base]\ndockerfile = "base.Dockerfile"\n'
        'tags = ["acme/base:1.3", "acme/base:latest"]\nlabels = { v = "1.3" }\n'
        '[base.py]\ndockerfile = "py.Dockerfile"\n'
        '[services.app]\ndockerfile = "app.Dockerfile"\n'
        '[services.svc]\ndockerfile = "svc.Dockerfile"\n')


def test_export_bake_carries_tags_labels_and_every_from_name(tmp_path: Path) -> None:
    cfg = load(_repo(tmp_path, TOML))
    snap = work_snapshot(cfg)
    links = config_links(cfg, {n: i.external_images for n, i in snap.inputs.items()})
    targets = bake_file(cfg, snap.graph, cache=False, links=links)["target"]
    assert isinstance(targets, dict)
    assert targets["base"]["tags"] == ["acme/base:1.3", "acme/base:latest"]
    assert targets["base"]["labels"] == {"v": "1.3"}
    assert targets["app"]["contexts"] == {"acme/base:1.3": "target:base",
                                          "acme/base:latest": "target:base"}
    assert targets["svc"]["contexts"] == {"127.0.0.1:5000/me/py:latest": "target:py",
                                          "ghcr.io/old/py:latest": "target:py"}


def test_validate_names_a_base_lost_under_the_old_registry(tmp_path: Path) -> None:
    """py is built here (py.Dockerfile) but left out of services.toml: a FROM under the
    Dockerfiles' old registry still finds it."""
    path = _repo(tmp_path, TOML.replace('[base.py]\ndockerfile = "py.Dockerfile"\n', ""))
    read, problems, _ = check(path)
    assert read == path
    assert problems == [
        "services.toml: py is built here from py.Dockerfile but is not in services.toml: add "
        "[base.py] (or `buildorch init --force`); svc builds FROM it"]


@pytest.mark.usefixtures("engine")   # `docker buildx bake --print` reads the file
def test_init_resolves_bake_contexts_from_where_bake_runs(tmp_path: Path) -> None:
    """CI runs `docker buildx bake -f ci/docker-bake.json` from ci/: `context = "../app"`
    is app/ from there (from the repository root it would be outside)."""
    from tests.helpers import bo

    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    write_files(repo, {
        "ci/docker-bake.json": '{"target": {"app": {"context": "../app", '
                               '"tags": ["acme/app:2"], "labels": {"v": "2"}}}}',
        "app/Dockerfile": "FROM busybox:1.36\nCOPY main.py /main.py\n",
        "app/main.py": "print()\n"})
    p = bo(repo, "init", "--bake-dir", "ci")
    assert p.returncode == 0, p.stderr
    assert "run from ci/" in p.stdout
    cfg = load(repo / "services.toml")
    assert cfg.images["app"].context == "app" and cfg.refs("app") == ("acme/app:2",)
    assert dict(cfg.images["app"].labels) == {"v": "2"}
