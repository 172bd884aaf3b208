"""Dockerfiles by their names."""

from __future__ import annotations

import pytest

from buildorch.planning.dockerfiles import conventional_name, is_dockerfile, looks_test_only


@pytest.mark.parametrize(("path", "yes"), [
    ("Dockerfile", True), ("a/Dockerfile", True), ("services/base/Dockerfile.python-ml", True),
    ("docker/python-ml.Dockerfile", True), ("x/app.dockerfile", True), ("Containerfile", True),
    ("Dockerfile.dockerignore", False), ("a/Dockerfile.dev.dockerignore", False),
    ("Dockerfile-notes.md", False), ("dockerfiles/readme.txt", False),
])
def test_is_dockerfile(path: str, yes: bool) -> None:
    assert is_dockerfile(path) is yes


@pytest.mark.parametrize(("path", "name"), [
    ("services/base/Dockerfile.python-ml", "python-ml"),
    ("images/base-notebook/Dockerfile", "base-notebook"),
    ("services/stt/Dockerfile", "stt"),
    ("docker/Python_ML.Dockerfile", "python_ml"),
    ("web/Dockerfile.dev", "web-dev"),
    ("Dockerfile", "myrepo"),
    ("My App/Dockerfile", "my-app"),
    ("x/Dockerfile.---", None),
])
def test_conventional_name(path: str, name: str | None) -> None:
    assert conventional_name(path, "MyRepo")[0] == name


@pytest.mark.parametrize(("path", "why"), [
    ("services/stt/tests/Dockerfile", "under a tests/ folder: looks test-only"),
    ("Dockerfile.test", "named for tests: looks test-only"),
    ("services/stt/Dockerfile", ""),
    ("testing-tools/Dockerfile", ""),
])
def test_looks_test_only(path: str, why: str) -> None:
    assert looks_test_only(path) == why
