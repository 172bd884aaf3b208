"""The pre-push hook on real git repositories, pushing to a local bare remote, building on the
real engine: a failing build blocks the push, a clean one goes through, nothing stale is quick."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from buildorch.ops.hook import BACKUP, SIGNATURE
from tests.helpers import GIT_ENV, PREFIX, bo, docker, git, record_manifest, seed, stack

FOREIGN = "#!/bin/sh\necho foreign hook\n"


def push(repo: Path, *args: str, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "BUILDORCH_SKIP"}
    full.update({**GIT_ENV, **(env or {})})
    return subprocess.run(["git", "push", *args], cwd=repo, env=full, capture_output=True,
                          text=True, timeout=300)


def remote_sha(remote: Path) -> str:
    return git(remote, "rev-parse", "refs/heads/main").strip()


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def buildorch_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "buildorch" in line]


@pytest.fixture
def repo(make_repo: Callable[..., Path]) -> Path:
    return make_repo(stack(uuid.uuid4().hex[:10]))


@pytest.fixture
def pushed(repo: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The repository with the hook installed, already pushed (--no-verify) to a bare remote
    that is its upstream."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    assert bo(repo, "hook", "install").returncode == 0
    p = push(repo, "--no-verify", "-u", "origin", "main")
    assert p.returncode == 0, p.stderr
    assert not buildorch_lines(p.stderr + p.stdout)   # --no-verify: the hook did not run
    assert remote_sha(remote) == head(repo)
    return repo, remote


def commit(repo: Path, files: dict[str, str], msg: str) -> str:
    for rel, text in files.items():
        (repo / rel).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", msg)
    return head(repo)


# -- install / uninstall (no engine) ---------------------------------------------------------

def test_install_writes_an_executable_signed_hook(repo: Path) -> None:
    p = bo(repo, "hook", "install")
    assert p.returncode == 0, p.stderr
    hook = repo / ".git/hooks/pre-push"
    text = hook.read_text()
    assert text.startswith("#!/bin/sh\n") and SIGNATURE in text
    assert f"{sys.executable} -m buildorch hook run-pre-push" in text
    assert os.access(hook, os.X_OK)
    assert bo(repo, "hook", "install").returncode == 0   # ours: reinstall is fine


def test_install_refuses_a_foreign_hook_without_force_and_keeps_it_with(repo: Path) -> None:
    hook = repo / ".git/hooks/pre-push"
    hook.write_text(FOREIGN)
    p = bo(repo, "hook", "install")
    assert p.returncode == 1
    assert "not written by buildorch" in p.stderr and "--force" in p.stderr
    assert hook.read_text() == FOREIGN
    p = bo(repo, "hook", "install", "--force")
    assert p.returncode == 0, p.stderr
    assert BACKUP in p.stdout
    assert (repo / ".git/hooks" / BACKUP).read_text() == FOREIGN
    assert SIGNATURE in hook.read_text()

    p = bo(repo, "hook", "uninstall")
    assert p.returncode == 0, p.stderr
    assert hook.read_text() == FOREIGN
    assert not (repo / ".git/hooks" / BACKUP).exists()


def test_uninstall_removes_ours_and_leaves_a_foreign_one(repo: Path) -> None:
    assert bo(repo, "hook", "install").returncode == 0
    assert bo(repo, "hook", "uninstall").returncode == 0
    hook = repo / ".git/hooks/pre-push"
    assert not hook.exists()
    hook.write_text(FOREIGN)
    p = bo(repo, "hook", "uninstall")
    assert p.returncode == 1 and "left alone" in p.stderr
    assert hook.read_text() == FOREIGN


def test_install_honours_core_hooks_path(repo: Path) -> None:
    git(repo, "config", "core.hooksPath", "githooks")
    assert bo(repo, "hook", "install").returncode == 0
    assert SIGNATURE in (repo / "githooks/pre-push").read_text()
    assert not (repo / ".git/hooks/pre-push").exists()


def test_skip_env_exits_before_running_anything(repo: Path) -> None:
    assert bo(repo, "hook", "install").returncode == 0
    p = subprocess.run([str(repo / ".git/hooks/pre-push"), "origin", "x"], cwd=repo,
                       input="garbage that would fail\n", capture_output=True, text=True,
                       env={**os.environ, "BUILDORCH_SKIP": "1"})
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")


def test_no_change_is_quick_and_one_line(repo: Path) -> None:
    sha = head(repo)
    t0 = time.monotonic()
    p = bo(repo, "hook", "run-pre-push", "origin", "url",
           stdin=f"refs/heads/main {sha} refs/heads/main {sha}\n")
    elapsed = time.monotonic() - t0
    assert p.returncode == 0, p.stderr
    assert p.stdout == ""
    assert len(p.stderr.splitlines()) == 1
    assert p.stderr.startswith("buildorch: nothing to build for refs/heads/main")
    assert elapsed < 5.0   # a generous bound (python start-up included): the figure is ~0.3 s


def test_deleting_a_branch_builds_nothing(repo: Path) -> None:
    p = bo(repo, "hook", "run-pre-push", "origin", "url",
           stdin=f"(delete) {'0' * 40} refs/heads/old {head(repo)}\n")
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")


# -- pushes through the real hook, real builds ------------------------------------------------

@pytest.mark.usefixtures("engine")
def test_push_of_unrelated_change_is_quick_and_one_line(pushed: tuple[Path, Path]) -> None:
    repo, remote = pushed
    sha = commit(repo, {"README.md": "not read by any image\n"}, "docs")
    t0 = time.monotonic()
    p = push(repo)
    elapsed = time.monotonic() - t0
    assert p.returncode == 0, p.stderr
    lines = buildorch_lines(p.stderr)
    assert len(lines) == 1 and "nothing to build" in lines[0], p.stderr
    assert remote_sha(remote) == sha
    assert elapsed < 5.0


@pytest.mark.usefixtures("engine")
def test_hook_blocks_a_broken_push_and_lets_a_clean_one_through(
        pushed: tuple[Path, Path]) -> None:
    repo, remote = pushed
    before = remote_sha(remote)

    good = commit(repo, {"services/svc-a/app.txt": "changed\n"}, "svc-a change")
    p = push(repo)
    assert p.returncode == 0, p.stderr
    # svc-a changed; its parents were never built here (missing from the engine): all three.
    assert "3 image(s) stale in refs/heads/main" in p.stderr and "base, a, svc-a" in p.stderr
    assert "building the working tree" in p.stderr
    assert remote_sha(remote) == good != before

    broken = commit(repo, {"services/lone/Dockerfile": "FROM busybox:1.36\nRUN exit 3\n"},
                    "break lone")
    p = push(repo)
    assert p.returncode != 0
    blocked = [line for line in p.stderr.splitlines() if "push blocked" in line]
    assert len(blocked) == 1 and "lone failed" in blocked[0], p.stderr
    assert remote_sha(remote) == good

    # The pushed commit is what is built, not the working tree: fixing the file without
    # committing it does not let the broken commit through.
    fixed = "FROM busybox:1.36\nRUN echo fixed\n"
    (repo / "services/lone/Dockerfile").write_text(fixed)
    p = push(repo)
    assert p.returncode != 0 and "push blocked" in p.stderr
    assert "temporary worktree" in p.stderr
    assert remote_sha(remote) == good
    assert "buildorch-push-" not in git(repo, "worktree", "list")

    p = push(repo, env={"BUILDORCH_SKIP": "1"})
    assert p.returncode == 0, p.stderr
    assert not buildorch_lines(p.stderr)
    assert remote_sha(remote) == broken

    fixed_sha = commit(repo, {"services/lone/Dockerfile": fixed}, "fix lone")
    p = push(repo)
    assert p.returncode == 0, p.stderr
    assert "lone" in p.stderr
    assert remote_sha(remote) == fixed_sha


@pytest.mark.usefixtures("engine")
def test_a_failing_smoke_check_blocks_the_push(pushed: tuple[Path, Path]) -> None:
    repo, remote = pushed
    before = remote_sha(remote)
    toml = (repo / "services.toml").read_text()
    with_smoke = toml.replace('[services.lone]\ntier = "services"',
                              '[services.lone]\ntier = "services"\n'
                              'smoke = ["sh", "-c", "grep -q ready /app"]')
    assert with_smoke != toml
    commit(repo, {"services.toml": with_smoke, "services/lone/app.txt": "not yet\n"},
           "lone: smoke check, app not ready")
    p = push(repo)
    assert p.returncode != 0
    blocked = [line for line in p.stderr.splitlines() if "push blocked" in line]
    assert len(blocked) == 1, p.stderr
    assert "lone failed: smoke check failed: `sh -c 'grep -q ready /app'` exited with code 1" \
        in blocked[0]
    assert remote_sha(remote) == before

    ready = commit(repo, {"services/lone/app.txt": "ready\n"}, "lone ready")
    p = push(repo)
    assert p.returncode == 0, p.stderr
    assert remote_sha(remote) == ready


# -- the hook trusts the manifest (issue 20) --------------------------------------------------

@pytest.fixture
def seeded(make_repo: Callable[..., Path], tmp_path: Path) -> tuple[Path, Path]:
    """The seed-shaped repository (8 images, ghcr-style FROM lines), pushed (--no-verify) to a
    bare remote that is its upstream, with the hook installed."""
    ns = uuid.uuid4().hex[:10]
    repo = make_repo(seed(f"{PREFIX}{ns}", ns))
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    assert bo(repo, "hook", "install").returncode == 0
    assert push(repo, "--no-verify", "-u", "origin", "main").returncode == 0
    return repo, remote


def build_all(repo: Path) -> None:
    p = bo(repo, "build", "--progress", "plain", timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.mark.usefixtures("engine")
def test_push_right_after_a_build_starts_nothing_on_any_branch(
        seeded: tuple[Path, Path]) -> None:
    repo, remote = seeded
    build_all(repo)

    # A new branch: git passes 000…0 as the remote sha and there is no upstream.
    git(repo, "switch", "-q", "-c", "topic")
    p = push(repo, "origin", "topic")
    assert p.returncode == 0, p.stderr
    lines = buildorch_lines(p.stderr)
    assert len(lines) == 1, p.stderr
    assert "nothing to build for refs/heads/topic" in lines[0]
    assert "8 image(s) changed (a new branch with no upstream" in lines[0]
    assert "all built already" in lines[0]

    # A base change, built, then pushed: python-ml and its 4 descendants changed, none built.
    git(repo, "switch", "-q", "main")
    sha = commit(repo, {"requirements/ml.txt": "numpy\nscipy\n"}, "python-ml: scipy")
    build_all(repo)
    p = push(repo)
    assert p.returncode == 0, p.stderr
    lines = buildorch_lines(p.stderr)
    assert len(lines) == 1 and "5 image(s) changed since refs/heads/main on the remote" \
        in lines[0] and "all built already" in lines[0], p.stderr
    assert remote_sha(remote) == sha

    # With an unrelated dirty file the pushed commit is still what was built: nothing to do.
    (repo / "NOTES.txt").write_text("scratch\n")
    sha = commit(repo, {"README.md": "docs\n"}, "docs")
    p = push(repo)
    assert p.returncode == 0 and "nothing to build" in p.stderr, p.stderr

    # The manifest is trusted only as far as it goes: a change not built yet is built (that
    # image alone, its parents are built already), and an image gone from the engine is
    # built again.
    commit(repo, {"services/llm/main.py": "print('llm 2')\n"}, "llm change")
    (repo / "NOTES.txt").unlink()
    p = push(repo)
    assert p.returncode == 0, p.stderr
    assert "1 image(s) stale in refs/heads/main" in p.stderr and ": llm" in p.stderr, p.stderr
    assert "1 built, 0 reused" in p.stderr

    reg = next(line.split('"')[1] for line in (repo / "services.toml").read_text().splitlines()
               if line.startswith("registry"))
    docker("rmi", "-f", f"{reg}/discord:latest")
    commit(repo, {"services/discord/main.py": "print('discord 2')\n"}, "discord change")
    build_all(repo)
    docker("rmi", "-f", f"{reg}/discord:latest")
    p = push(repo)
    assert p.returncode == 0, p.stderr
    assert "1 image(s) stale in refs/heads/main" in p.stderr and ": discord" in p.stderr, \
        p.stderr


@pytest.mark.usefixtures("engine")
def test_a_build_in_a_temporary_worktree_names_the_ignored_file_it_lacks(
        seeded: tuple[Path, Path]) -> None:
    repo, remote = seeded
    before = remote_sha(remote)
    (repo / ".gitignore").write_text("*.onnx\n")
    (repo / "models").mkdir()
    (repo / "models/wake.onnx").write_text("weights\n")
    docker_file = repo / "services/waketrainer/Dockerfile"
    commit(repo, {".gitignore": "*.onnx\n", "services/waketrainer/Dockerfile":
                  docker_file.read_text() + "COPY models/wake.onnx /models/\n"},
           "waketrainer: the wake model")
    build_all(repo)   # in the working tree the file is there: the build works

    commit(repo, {"services/waketrainer/main.py": "print('w2')\n"}, "waketrainer change")
    (repo / "NOTES.txt").write_text("an unrelated dirty file\n")
    p = push(repo)
    assert p.returncode != 0
    assert "temporary worktree" in p.stderr
    blocked = [line for line in p.stderr.splitlines() if "push blocked" in line]
    assert len(blocked) == 1, p.stderr
    assert "waketrainer failed" in blocked[0]
    assert ("models/wake.onnx (waketrainer: services/waketrainer/Dockerfile line 4) is in "
            "your working tree but ignored by git (.gitignore:1: *.onnx)") in blocked[0], \
        blocked[0]
    assert "git stash" in blocked[0]
    assert remote_sha(remote) == before


def test_what_the_manifest_and_the_engine_agree_on_is_not_built(
        make_repo: Callable[..., Path]) -> None:
    """The hook's plan without an engine or a build: the engine's answer and the build are
    passed in (what they return is all the plan reads)."""
    from buildorch.ops.hook import run_pre_push
    from buildorch.planning.baseline import open_config, work_snapshot

    repo = make_repo(seed("ghcr.io/acme", "x"))
    cfg = open_config(repo / "services.toml")
    record_manifest(repo)
    labels = {n: r.digest for n, r in work_snapshot(cfg).records.items()}
    built: list[tuple[str, ...]] = []
    said: list[str] = []

    def build_in(_cfg: object, names: tuple[str, ...]) -> None:
        built.append(names)

    line = [f"refs/heads/topic {head(repo)} refs/heads/topic {'0' * 40}"]
    assert run_pre_push(cfg, "origin", line, said.append, build_in, lambda c: labels) == 0
    assert built == [] and "8 image(s) changed" in said[-1] and "all built already" in said[-1]

    # python-ml's image in the engine is another one (no label, or another digest): it is
    # built, and so are its dependents; the rest stays.
    for other in (None, "sha256:other"):
        built.clear()
        engine = {**labels, "python-ml": other}
        assert run_pre_push(cfg, "origin", line, said.append, build_in, lambda c, e=engine: e) == 0
        assert len(built) == 1 and built[0][0] == "python-ml", said
        assert set(built[0]) == {"python-ml", "python-ml-audio", "llm", "waketrainer", "stt"}
    # gone from the engine: the same
    built.clear()
    engine = {n: d for n, d in labels.items() if n != "python-ml"}
    run_pre_push(cfg, "origin", line, said.append, build_in, lambda c: engine)
    assert set(built[0]) == {"python-ml", "python-ml-audio", "llm", "waketrainer", "stt"}
    # no engine answers: nothing is trusted, every image is built (the build says why not)
    built.clear()
    run_pre_push(cfg, "origin", line, said.append, build_in, lambda c: None)
    assert len(built[0]) == 8


def test_an_ignored_file_a_parents_onbuild_copy_needs_is_named(
        make_repo: Callable[..., Path]) -> None:
    """A configured parent's ONBUILD COPY runs in the child's context: a source git ignores is
    missing from a temporary worktree of the commit, and the hook says which trigger reads it."""
    from buildorch.config import load
    from buildorch.edges.git import CommitTree
    from buildorch.ops.hook import ignored_sources

    repo = make_repo({
        "services.toml": '[project]\nregistry = "reg.example/acme"\n[tiers.base]\n'
                         '[tiers.services]\n[base.py]\ntier = "base"\n'
                         'dockerfile = "images/py.Dockerfile"\n[services.app]\n'
                         'tier = "services"\ndockerfile = "app/Dockerfile"\ncontext = "app"\n'
                         '[services.other]\ntier = "services"\ndockerfile = "other/Dockerfile"\n',
        "images/py.Dockerfile": "FROM busybox:1.36\nONBUILD COPY local.env /etc/app.env\n",
        # an image not being built, its Dockerfile broken: not read for this hint
        "other/Dockerfile": "FROM busybox:1.36\nCOPYY a b\n",
        "app/Dockerfile": "FROM reg.example/acme/py:latest\nCOPY main.py /main.py\n",
        "app/main.py": "print('app')\n",
        ".gitignore": "*.env\n",
    })
    (repo / "app/local.env").write_text("A=1\n")   # in the working tree only
    cfg = load(repo / "services.toml")
    [line] = ignored_sources(cfg, CommitTree.at(repo, "HEAD"), ["app"])
    assert line == ("app/local.env (app: py's Dockerfile line 2, ONBUILD) is in your working "
                    "tree but ignored by git (.gitignore:1: *.env), so the temporary worktree "
                    "of the pushed commit lacks it")
