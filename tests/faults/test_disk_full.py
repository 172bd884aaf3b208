"""A full disk, for real: a private engine whose data root is a small ext4 filesystem on a
loop device, filled by "another process" (a file of the test) until a build runs out of space;
and a full filesystem under `.buildorch/` (a small tmpfs mounted there). The reason names the
disk and what is left, the manifest and history stay whole, the other images are skipped, and
after cleanup the next build succeeds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.engines import EngineError, PrivateEngine
from tests.helpers import PREFIX, SESSION, bo, need_tool, unavailable

pytestmark = pytest.mark.engine

MiB = 1024 * 1024


def mount_small(where: Path, kind: str, size_mib: int, scratch: Path) -> None:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        unavailable("mounting a small filesystem needs root")
    if kind == "ext4":
        mkfs = need_tool("mkfs.ext4", "Debian: apt-get install e2fsprogs")
        img = scratch / f"{where.name}.img"
        with img.open("wb") as f:
            f.truncate(size_mib * MiB)
        subprocess.run([mkfs, "-q", "-F", "-m", "0", str(img)], check=True, capture_output=True)
        argv = ["mount", "-o", "loop", str(img), str(where)]
    else:
        argv = ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m", "tmpfs", str(where)]
    p = subprocess.run(argv, capture_output=True, text=True)
    if p.returncode != 0:
        unavailable(f"cannot mount a small {kind} filesystem: {p.stderr.strip()}")


def unmount(where: Path) -> None:
    if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(path: Path, leave_mib: int) -> Path:
    """A file taking all but `leave_mib` of the filesystem holding `path`."""
    st = os.statvfs(path)
    size = st.f_bavail * st.f_frsize - leave_mib * MiB
    filler = path / "filler"
    with filler.open("wb") as f:
        if size > 0:
            os.posix_fallocate(f.fileno(), 0, size)
    return filler


def free_mib(path: Path) -> float:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize / MiB


@pytest.fixture
def small_engine(tmp_path_factory: pytest.TempPathFactory, engine: None
                 ) -> Iterator[tuple[PrivateEngine, Path]]:
    """A private engine (containerd store) whose data root is a 400 MiB ext4 on a loop device;
    stopped and removed, then unmounted, at the end."""
    scratch = tmp_path_factory.mktemp("small-disk")
    mnt = scratch / "mnt"
    mount_small(mnt, "ext4", 400, scratch)
    eng = PrivateEngine(f"diskfull-{SESSION}", "containerd", mnt / "data")
    try:
        eng.up()
    except EngineError as exc:
        unmount(mnt)
        unavailable(f"{exc} (tests/engines.py)")
    try:
        yield eng, mnt
    finally:
        eng.remove()
        unmount(mnt)


def apps(ns: str, sizes: dict[str, int]) -> dict[str, str]:
    """Independent images FROM busybox, each writing `size` MiB in a RUN step."""
    files = {"services.toml": f'[project]\nregistry = "{PREFIX}{ns}"\njobs = 1\n'
                              '[cache]\nfrom = ["local"]\nto = ["local"]\n'
                              '[tiers.services]\nmin_free = "0"\n',
             ".dockerignore": ".git\n.buildorch\n", ".gitignore": ".buildorch/\n"}
    for name, size in sizes.items():
        files["services.toml"] += (f'[services.{name}]\ntier = "services"\n'
                                   f'dockerfile = "{name}/Dockerfile"\n')
        files[f"{name}/Dockerfile"] = (f"FROM busybox:1.36\nCOPY {name}/v.txt /v\n"
                                       f"RUN dd if=/dev/zero of=/blob bs=1M count={size}\n")
        files[f"{name}/v.txt"] = "1\n"
    return files


def manifest(repo: Path) -> dict[str, object]:
    data = json.loads((repo / ".buildorch" / "manifest.json").read_text())
    assert isinstance(data, dict)
    return data


def history(repo: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in
            (repo / ".buildorch" / "history.jsonl").read_text().splitlines()]


def test_a_build_that_fills_the_engine_disk_fails_naming_it_and_recovers(
        small_engine: tuple[PrivateEngine, Path], make_repo: Callable[..., Path]) -> None:
    eng, mnt = small_engine
    env = eng.env
    repo = make_repo(apps(uuid.uuid4().hex[:8], {"first": 1, "big": 60, "other": 1,
                                                  "third": 1}))
    ok = bo(repo, "build", "first", "--progress", "plain", env=env, timeout=600)
    assert ok.returncode == 0, ok.stderr
    before = manifest(repo)
    filler = fill(mnt, leave_mib=40)     # another process fills the disk
    for name in ("big", "other", "third"):
        (repo / name / "v.txt").write_text("2\n")
    p = bo(repo, "build", "big", "other", "third", "--progress", "plain", env=env,
           timeout=600)
    assert p.returncode == 1
    failed = [ln for ln in p.stderr.splitlines() if "FAILED" in ln]
    assert len(failed) == 1, p.stderr
    assert "no space left on the engine's disk" in failed[0]
    assert f"{mnt / 'data'}: " in failed[0] and " free)" in failed[0]
    assert "`buildorch clean --policy conservative`" in failed[0]
    skipped = [ln for ln in p.stdout.splitlines() if "skipped: not started: the engine's disk "
               "is full" in ln]
    assert len(skipped) == 2, p.stdout
    # The manifest is whole and unchanged; the history is valid and records no skipped image
    # as built.
    assert manifest(repo) == before
    results = {(h["image"], h["result"]) for h in history(repo)}
    assert ("first", "built") in results and ("big", "failed") in results
    assert not {("other", "built"), ("third", "built")} & results
    # Cleanup: the other process's file goes, buildorch's own cleanup runs; then it builds.
    filler.unlink()
    clean = bo(repo, "clean", "--policy", "conservative", env=env)
    assert clean.returncode == 0, clean.stderr
    again = bo(repo, "build", "big", "other", "third", "--progress", "plain", env=env,
               timeout=600)
    assert again.returncode == 0, again.stderr
    assert {"first", "big", "other", "third"} <= set(manifest(repo)["images"])  # type: ignore[arg-type]


@pytest.fixture
def state_on_small_fs(make_repo: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory,
                      engine: None) -> Iterator[Path]:
    """A repository whose `.buildorch/` is a 4 MiB tmpfs."""
    repo = make_repo(apps(uuid.uuid4().hex[:8], {"app": 1}))
    state = repo / ".buildorch"
    mount_small(state, "tmpfs", 4, tmp_path_factory.mktemp("scratch"))
    try:
        yield repo
    finally:
        unmount(state)
        shutil.rmtree(state, ignore_errors=True)


def test_a_full_state_folder_is_one_line_and_the_manifest_survives(
        state_on_small_fs: Path) -> None:
    repo = state_on_small_fs
    assert bo(repo, "build", "--progress", "plain", timeout=600).returncode == 0
    before = (repo / ".buildorch" / "manifest.json").read_bytes()
    filler = fill(repo / ".buildorch", leave_mib=0)
    assert free_mib(repo / ".buildorch") < 0.1
    (repo / "app" / "v.txt").write_text("2\n")
    p = bo(repo, "build", "--progress", "plain", timeout=600)
    assert p.returncode == 1
    errors = [ln for ln in p.stderr.splitlines() if "warning" not in ln]
    assert len(errors) == 1, p.stderr
    assert "Traceback" not in p.stderr
    assert "No space left on device" in errors[0]
    assert str(repo / ".buildorch") in errors[0]
    assert (repo / ".buildorch" / "manifest.json").read_bytes() == before   # whole, unchanged
    json.loads(before)
    filler.unlink()
    again = bo(repo, "build", "--progress", "plain", timeout=600)
    assert again.returncode == 0, again.stderr
    assert (repo / ".buildorch" / "manifest.json").read_bytes() != before
