"""`build --progress plain` on the seed-shaped repository: one width for every line."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import PREFIX, bo, seed


@pytest.mark.usefixtures("engine")
def test_plain_output_is_aligned(make_repo: Callable[..., Path]) -> None:
    ns = uuid.uuid4().hex[:10]
    repo = make_repo(seed(f"{PREFIX}{ns}", ns))
    p = bo(repo, "build", "--progress", "plain", timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    (repo / "services/stt/main.py").write_text("print('stt 2')\n")
    p = bo(repo, "build", "--progress", "plain", timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = [line for line in p.stdout.splitlines() if line.startswith("[")]
    assert any("up to date" in line for line in lines) and \
        any("built in" in line for line in lines), p.stdout
    assert {line.index("] ") for line in lines} == {len("[python-ml-audio")}, p.stdout
    summary = [line for line in p.stdout.splitlines() if re.match(r"  \S+ +built ", line)]
    assert summary and summary[0].startswith("  stt  built "), p.stdout
