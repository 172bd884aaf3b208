"""A transient export error on the real engine: a `docker` wrapper on PATH runs the real
build, then reports containerd's snapshot race once (the race itself cannot be produced on
demand). The retry is said, and the image's figures and history cover both attempts."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from buildorch.running.pipeline import MAX_TRIES
from tests.helpers import bo, stack, unavailable

pytestmark = pytest.mark.engine

WRAPPER = """#!/bin/sh
if [ "$1 $2" = "buildx build" ] && [ ! -e "{state}/failed-once" ]; then
    : > "{state}/failed-once"
    "{real}" "$@"
    echo 'ERROR: failed to solve: failed to prepare extraction snapshot "extract-1": parent \
snapshot sha256:0123 does not exist: not found' >&2
    exit 1
fi
exec "{real}" "$@"
"""


def test_a_transient_export_error_is_retried_said_and_counted(
        engine: None, make_repo: Callable[..., Path], tmp_path: Path) -> None:
    real = shutil.which("docker")
    if real is None:
        unavailable("docker CLI not on PATH")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "docker"
    wrapper.write_text(WRAPPER.format(state=tmp_path, real=real))
    wrapper.chmod(0o755)
    repo = make_repo(stack(uuid.uuid4().hex[:10]))
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    p = bo(repo, "build", "lone", "--no-reuse", "--progress", "plain", env=env, timeout=600)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "failed-once").exists()
    retry = [ln for ln in p.stderr.splitlines() if "retrying" in ln]
    assert len(retry) == 1 and f"retrying (2/{MAX_TRIES}): " in retry[0], p.stderr
    assert "parent snapshot sha256:0123 does not exist" in retry[0]
    # Both Dockerfile steps ran in the first attempt: the second found them cached, which is
    # not a cache hit of this image.
    row = next(ln for ln in p.stdout.splitlines() if ln.strip().startswith("lone "))
    assert "cache hits 0/2" in row, p.stdout
    assert "1 retry after a transient fault" in p.stdout
    lines = [json.loads(x) for x in
             (repo / ".buildorch" / "history.jsonl").read_text().splitlines()]
    [entry] = [h for h in lines if h["image"] == "lone"]
    attempts = entry["attempts"]
    assert [a["ok"] for a in attempts] == [False, True]
    assert entry["duration_s"] >= sum(a["duration_s"] for a in attempts)
    assert (entry["steps"], entry["cached_steps"]) == (2, 0)
