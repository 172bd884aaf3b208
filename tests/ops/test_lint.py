"""`buildorch lint`: each cache-hygiene rule on a fixture Dockerfile, and clean stacks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from buildorch.ops.lint import Source, lint

PROJECT = Path(__file__).resolve().parents[2]

TOML = """\
[project]
registry = "registry.example/acme"
tag = "latest"

[tiers.foundation]
[tiers.services]

[base.base]
tier = "foundation"
dockerfile = "base/Dockerfile"

[services.app]
tier = "services"
dockerfile = "services/app/Dockerfile"
"""

CLEAN_BASE = """\
FROM python:3.11-slim
RUN --mount=type=cache,id=apt,target=/var/cache/apt,sharing=locked \\
    --mount=type=cache,id=apt-lists,target=/var/lib/apt,sharing=locked \\
    apt-get update && apt-get install -y --no-install-recommends git
COPY requirements.txt /tmp/requirements.txt
RUN --mount=type=cache,id=pip,target=/root/.cache/pip,sharing=locked \\
    pip install -r /tmp/requirements.txt
"""

CLEAN_APP = """\
FROM registry.example/acme/base:latest
COPY services/app/requirements.txt /app/requirements.txt
RUN --mount=type=cache,id=pip,target=/root/.cache/pip pip install -r /app/requirements.txt
COPY services/app/ /app/
"""

Run = Callable[[str], tuple[int, list[dict[str, Any]]]]


@pytest.fixture
def run_lint(make_repo: Callable[..., Path]) -> Run:
    """Lint a repo whose service Dockerfile is `app`; returns (exit code, findings)."""

    def run(app: str) -> tuple[int, list[dict[str, Any]]]:
        repo = make_repo({"services.toml": TOML, "base/Dockerfile": CLEAN_BASE,
                          "base/requirements.txt": "", "services/app/Dockerfile": app,
                          "services/app/requirements.txt": "", "services/app/app.py": ""})
        proc = subprocess.run([sys.executable, "-m", "buildorch", "lint", "--json"], cwd=repo,
                              capture_output=True, text=True)
        assert proc.returncode in (0, 1), proc.stderr
        return proc.returncode, json.loads(proc.stdout)["findings"]

    return run


def _one(found: list[dict[str, Any]], rule: str, line: int) -> None:
    assert [(f["file"], f["line"], f["rule"]) for f in found] == [
        ("services/app/Dockerfile", line, rule)], found


def test_clean_fixture_has_no_findings(run_lint: Run) -> None:
    assert run_lint(CLEAN_APP) == (0, [])


def test_pip_install_without_cache_mount(run_lint: Run) -> None:
    rc, found = run_lint("FROM registry.example/acme/base:latest\n"
                         "COPY services/app/requirements.txt /r.txt\n"
                         "RUN pip install -r /r.txt\n")
    assert rc == 1
    _one(found, "pip-no-cache-mount", 3)


def test_apt_install_without_cache_mount(run_lint: Run) -> None:
    rc, found = run_lint("FROM registry.example/acme/base:latest\n"
                         "RUN apt-get update && \\\n"
                         "    apt-get install -y curl\n")
    assert rc == 1
    _one(found, "apt-no-cache-mount", 2)


def test_pip_no_cache_dir_env_with_pip_mount(run_lint: Run) -> None:
    rc, found = run_lint("FROM registry.example/acme/base:latest\n"
                         "ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1\n"
                         "COPY services/app/requirements.txt /r.txt\n"
                         "RUN --mount=type=cache,target=/root/.cache/pip pip install -r /r.txt\n")
    assert rc == 1
    _one(found, "pip-cache-disabled", 4)
    assert "line 2" in found[0]["message"]


def test_no_cache_dir_flag_with_pip_mount(run_lint: Run) -> None:
    rc, found = run_lint("FROM registry.example/acme/base:latest\n"
                         "COPY services/app/requirements.txt /r.txt\n"
                         "RUN --mount=type=cache,target=/root/.cache/pip \\\n"
                         "    pip install --no-cache-dir -r /r.txt\n")
    assert rc == 1
    _one(found, "pip-cache-disabled", 3)


def test_inline_pip_no_cache_dir_with_pip_mount(run_lint: Run) -> None:
    rc, found = run_lint("FROM registry.example/acme/base:latest\n"
                         "COPY services/app/requirements.txt /r.txt\n"
                         "RUN --mount=type=cache,target=/root/.cache/pip \\\n"
                         "    PIP_NO_CACHE_DIR=1 pip install -r /r.txt\n")
    assert rc == 1
    _one(found, "pip-cache-disabled", 3)


def test_copy_dot_before_install(run_lint: Run) -> None:
    rc, found = run_lint("FROM registry.example/acme/base:latest\n"
                         "WORKDIR /app\n"
                         "COPY . /app\n"
                         "RUN --mount=type=cache,target=/root/.cache/pip pip install -e .\n")
    assert rc == 1
    _one(found, "copy-before-install", 3)


def test_copy_service_folder_before_install(run_lint: Run) -> None:
    rc, found = run_lint("FROM registry.example/acme/base:latest\n"
                         "COPY services/app/ /app/\n"
                         "RUN --mount=type=cache,target=/root/.cache/pip \\\n"
                         "    pip install -r /app/requirements.txt\n")
    assert rc == 1
    _one(found, "copy-before-install", 2)


def test_copy_after_install_is_fine(run_lint: Run) -> None:
    rc, found = run_lint("FROM registry.example/acme/base:latest\n"
                         "COPY services/app/requirements.txt /r.txt\n"
                         "RUN --mount=type=cache,target=/root/.cache/pip pip install -r /r.txt\n"
                         "COPY . /app\n")
    assert (rc, found) == (0, [])


def test_apt_update_in_another_run(run_lint: Run) -> None:
    rc, found = run_lint("FROM registry.example/acme/base:latest\n"
                         "RUN apt-get update\n"
                         "RUN --mount=type=cache,target=/var/cache/apt \\\n"
                         "    apt-get install -y curl\n")
    assert rc == 1
    _one(found, "apt-update-separate", 2)
    assert "line 3" in found[0]["message"]


def test_from_latest_of_an_image_not_built_here(run_lint: Run) -> None:
    rc, found = run_lint("FROM registry.example/acme/base:latest AS built-here\n"
                         "FROM node:latest AS assets\n"
                         "FROM alpine\n"
                         "COPY --from=assets /x /x\n")
    assert rc == 1
    assert [(f["line"], f["rule"]) for f in found] == [(2, "unpinned-base"),
                                                       (3, "unpinned-base")]


def test_from_through_args_built_from_args_is_resolved(run_lint: Run) -> None:
    # The base comes from the analysis' expansion of global ARGs (an ARG default built from
    # another ARG): the image built here is recognised, the external one is still flagged.
    rc, found = run_lint("ARG REGISTRY=registry.example\nARG OWNER=acme\n"
                         "ARG BASE_IMAGE=$REGISTRY/$OWNER/base\n"
                         "ARG TOOL=node\n"
                         "FROM $BASE_IMAGE\n"
                         "FROM ${TOOL}:latest\n")
    assert rc == 1
    assert [(f["line"], f["rule"]) for f in found] == [(6, "unpinned-base")]
    assert "FROM node:latest" in found[0]["message"]


def test_text_output_and_count(make_repo: Callable[..., Path]) -> None:
    repo = make_repo({"services.toml": TOML, "base/Dockerfile": "FROM debian\n",
                      "services/app/Dockerfile": CLEAN_APP,
                      "services/app/requirements.txt": ""})
    proc = subprocess.run([sys.executable, "-m", "buildorch", "lint"], cwd=repo,
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        "base/Dockerfile:1: unpinned-base: FROM debian is not pinned and not built here: pin a "
        "version tag or digest so cached layers are not silently rebuilt on a new upstream "
        "image",
        "1 finding(s) in 2 Dockerfile(s)"]


def test_heredoc_and_global_arg_from() -> None:
    text = ("ARG BASE=ubuntu\n"
            "FROM ${BASE}\n"
            "RUN <<EOF\n"
            "set -e\n"
            "python3 -m pip install requests\n"
            "EOF\n")
    found = lint(Source("Dockerfile", text))
    assert [(f.line, f.rule) for f in found] == [(2, "unpinned-base"), (3, "pip-no-cache-mount")]
    assert lint(Source("Dockerfile", text, build_args={"BASE": "ubuntu:24.04"}))[0].line == 3


def test_demo_stack_is_clean(make_repo: Callable[..., Path]) -> None:
    """The repository's own demo stack follows every rule."""
    repo = make_repo({}, commit=False)
    shutil.copy(PROJECT / "services.toml", repo / "services.toml")
    shutil.copytree(PROJECT / "Dockerfiles", repo / "Dockerfiles")
    shutil.copytree(PROJECT / "services", repo / "services")
    proc = subprocess.run([sys.executable, "-m", "buildorch", "lint"], cwd=repo,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "0 finding(s) in 15 Dockerfile(s)"


def test_pip_no_cache_dir_inherited_from_a_parent_built_here(
        make_repo: Callable[..., Path]) -> None:
    """The seed's trap: the base image sets PIP_NO_CACHE_DIR, every child's mount is dead."""
    base = "FROM python:3.11-slim\nENV PIP_NO_CACHE_DIR=1\n"
    repo = make_repo({"services.toml": TOML, "base/Dockerfile": base,
                      "services/app/Dockerfile": CLEAN_APP,
                      "services/app/requirements.txt": ""})
    proc = subprocess.run([sys.executable, "-m", "buildorch", "lint", "--json"], cwd=repo,
                          capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    found = json.loads(proc.stdout)["findings"]
    assert [(f["file"], f["line"], f["rule"]) for f in found] == [
        ("services/app/Dockerfile", 3, "pip-cache-disabled")]
    assert "parent image base in base/Dockerfile:2" in found[0]["message"]
