"""Submodules: git lists none of their files, Docker sends them all. The planner reads them
from disk (and at a commit, from the submodule's own repository), so an edit inside one is
stale exactly when BuildKit rebuilds, through the input cache as well."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

import buildorch
from tests.helpers import PREFIX, buildkit_build, git, record_manifest

DOCKERFILE = "FROM busybox:1.36\nCOPY vendor/lib/ /lib-vendored/\nCOPY app/ /app/\n"
FILES = {
    "Dockerfile": DOCKERFILE,
    "services.toml": '[tiers.t]\n[services.app]\ntier = "t"\n',
    ".dockerignore": ".git\n.buildorch\n",
    ".gitignore": ".buildorch/\n",
    "app/main.py": "print('main')\n",
    "docs/guide.txt": "read by nobody\n",
}


def _repo(make_repo: Callable[..., Path], nonce: str) -> Path:
    lib = make_repo({"lib/core.py": f"CORE = '{nonce}'\n", "lib/extra.py": "E = 1\n",
                     "README.txt": "not copied\n"}, name="lib-upstream")
    repo = make_repo(FILES, commit=False)
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "vendor")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


def _plan(repo: Path, since: str | None = None) -> buildorch.PlanResult:
    return buildorch.plan(buildorch.load_config(repo / "services.toml"), since=since)


def test_a_submodules_files_are_inputs(make_repo: Callable[..., Path]) -> None:
    repo = _repo(make_repo, "x")
    result = _plan(repo)
    files = set(result.snapshot.records["app"].files or {})
    assert {"vendor/lib/core.py", "vendor/lib/extra.py", "app/main.py"} <= files
    assert "vendor/README.txt" not in files   # not below what the COPY names
    assert not [n for n in result.notes if "not in the context" in n]


def _edit(repo: Path, nonce: str) -> None:
    (repo / "vendor/lib/core.py").write_text(f"CORE = 'edited {nonce}'\n")


def _untracked(repo: Path, nonce: str) -> None:
    (repo / "vendor/lib/new.py").write_text(f"N = '{nonce}'\n")


def _chmod(repo: Path, nonce: str) -> None:
    os.chmod(repo / "vendor/lib/extra.py", 0o600)


def _bumped(repo: Path, nonce: str) -> None:
    sub = repo / "vendor"
    (sub / "lib/extra.py").write_text(f"E = '{nonce}'\n")
    git(sub, "commit", "-qam", "upstream change")
    git(repo, "add", "vendor")
    git(repo, "commit", "-q", "-m", "bump vendor")


def _outside(repo: Path, nonce: str) -> None:
    (repo / "vendor/README.txt").write_text(f"{nonce}\n")


def _elsewhere(repo: Path, nonce: str) -> None:
    (repo / "docs/guide.txt").write_text(f"{nonce}\n")


def _buildkit_misses(repo: Path, tag: str) -> bool:
    res = buildkit_build(repo, tag)
    assert res.ok, res.log_tail
    return res.cached_steps < res.steps


@pytest.mark.engine
@pytest.mark.usefixtures("engine")
@pytest.mark.parametrize(("edit", "rebuilds"), [
    (_edit, True), (_untracked, True), (_chmod, True), (_bumped, True),
    (_outside, False), (_elsewhere, False),
], ids=lambda x: getattr(x, "__name__", "").strip("_") or None)
def test_the_planner_agrees_with_buildkit_inside_a_submodule(
        make_repo: Callable[..., Path], edit: Callable[[Path, str], None], rebuilds: bool) -> None:
    nonce = uuid.uuid4().hex
    repo = _repo(make_repo, nonce)
    tag = f"{PREFIX}planner-check:{nonce[:12]}"   # removed with the session
    _buildkit_misses(repo, tag)
    assert not _buildkit_misses(repo, tag), "the baseline must be fully cached"
    record_manifest(repo)
    assert not _plan(repo).plan.stale   # and the input cache now holds the baseline
    edit(repo, nonce)
    stale = bool(_plan(repo).plan.stale)
    missed = _buildkit_misses(repo, tag)
    assert missed == rebuilds, f"BuildKit itself: expected miss={rebuilds}"
    assert stale == missed, f"planner says stale={stale}, BuildKit missed={missed}"


def test_since_reads_the_submodule_at_that_commit(make_repo: Callable[..., Path]) -> None:
    repo = _repo(make_repo, "x")
    assert not _plan(repo, since="HEAD").plan.stale
    _bumped(repo, "y")
    [stale] = _plan(repo, since="HEAD~1").plan.stale
    assert stale.name == "app" and stale.reasons == ("input changed: vendor/lib/extra.py",)
    assert not _plan(repo, since="HEAD").plan.stale


def test_a_submodule_not_checked_out_has_no_files(make_repo: Callable[..., Path]) -> None:
    repo = _repo(make_repo, "x")
    git(repo, "submodule", "deinit", "-q", "-f", "vendor")
    result = _plan(repo, since="HEAD")   # the same on both sides: nothing there
    assert not result.plan.stale
    assert not [f for f in result.snapshot.records["app"].files or {}
                if f.startswith("vendor/")]
