"""Facts from `docker buildx inspect` (its text, as buildx 0.13 prints it) and the real engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildorch.edges import endpoint
from buildorch.edges.capabilities import _fields, default_builder_is_current, detect
from buildorch.edges.engine import Engine
from tests.helpers import write_context

CONTAINER_BUILDER = """Name:          ci
Driver:        docker-container
Last Activity: 2026-12-01 23:47:51 +0000 UTC

Nodes:
Name:                  ci0
Endpoint:              unix:///var/run/docker.sock
Status:                running
Buildkit daemon flags: --allow-insecure-entitlement=network.host
BuildKit version:      v0.13.2
Platforms:             linux/amd64
Labels:
 org.mobyproject.buildkit.worker.executor: oci
"""


def test_buildx_inspect_fields_take_the_builder_then_its_first_node() -> None:
    f = _fields(CONTAINER_BUILDER)
    assert (f["Name"], f["Driver"], f["Endpoint"], f["Status"]) == \
        ("ci", "docker-container", "unix:///var/run/docker.sock", "running")
    assert "org.mobyproject.buildkit.worker.executor" not in f


def test_detect_on_this_engine(engine: None) -> None:
    caps = detect(Engine.connect(), ["no-such-builder-i7"])
    assert caps.engine.version and caps.engine.id
    assert caps.engine.image_store in ("containerd", "classic")
    cur = caps.current
    assert cur.current and cur.reachable
    if cur.driver == "docker":
        assert cur.same_engine and cur.image_store == caps.engine.image_store
        assert not cur.via_registry
    missing = caps.builder("no-such-builder-i7")
    assert not missing.reachable and "does not exist" in missing.problem


def test_the_default_builder_is_known_without_asking_buildx_only_when_sure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("BUILDX_BUILDER", "DOCKER_CONTEXT", "DOCKER_HOST", "BUILDX_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert default_builder_is_current(endpoint.current())  # nothing chosen anywhere
    (tmp_path / "buildx").mkdir()
    current = tmp_path / "buildx" / "current"
    current.write_text('{"Key":"unix:///var/run/docker.sock","Name":"","Global":false}')
    assert default_builder_is_current(endpoint.current())
    current.write_text('{"Key":"unix:///var/run/docker.sock","Name":"ci","Global":false}')
    assert not default_builder_is_current(endpoint.current())  # `docker buildx use ci`
    current.unlink()
    (tmp_path / "config.json").write_text('{"currentContext": "gpu-box"}')
    write_context(tmp_path, "gpu-box", "unix:///run/gpu.sock")
    assert not default_builder_is_current(endpoint.current())  # `docker context use gpu-box`
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/x.sock")
    assert default_builder_is_current(endpoint.current())  # DOCKER_HOST wins over it
    monkeypatch.setenv("BUILDX_BUILDER", "ci")
    assert not default_builder_is_current(endpoint.current())


def test_podman_is_told_from_docker_by_its_version_components() -> None:
    from buildorch.edges.capabilities import product

    # what `GET /version` answers (Podman 4.9's Docker API; Docker Engine 26.1)
    podman = {"Components": [{"Name": "Podman Engine", "Version": "4.9.3"}],
              "ApiVersion": "1.41"}
    docker_ = {"Components": [{"Name": "Engine", "Version": "26.1.5"},
                              {"Name": "containerd"}], "ApiVersion": "1.45"}
    assert product(podman) == "Podman Engine"
    assert product(docker_) == product({}) == "Docker Engine"
