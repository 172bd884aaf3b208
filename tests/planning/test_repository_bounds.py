"""Nothing escapes the repository, and buildorch's own state is never an input."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from buildorch.edges.git import WorkTree
from tests.helpers import bo

SUB = {
    "sub/services.toml": '[tiers.t]\n[base.app]\ntier = "t"\ncontext = "."\n',
    "sub/Dockerfile": "FROM busybox:1.36\nCOPY . /app\n",
    "sub/app.txt": "app\n",
}


def test_state_beside_a_config_in_a_subfolder_is_never_an_input(
        make_repo: Callable[..., Path]) -> None:
    repo = make_repo(SUB)
    first = bo(repo, "--config", "sub/services.toml", "inputs", "app", "--json")
    assert first.returncode == 0, first.stderr
    state = repo / "sub" / ".buildorch"
    (state / "logs").mkdir(parents=True)
    (state / "history.jsonl").write_text('{"image":"app"}\n')
    (state / "logs" / "app.log").write_text("x\n")
    again = bo(repo, "--config", "sub/services.toml", "inputs", "app", "--json")
    assert json.loads(again.stdout) == json.loads(first.stdout)
    assert not any(".buildorch" in f for f in json.loads(again.stdout)["files"])
    # and from inside the folder, found upwards: the same
    inside = bo(repo / "sub", "inputs", "app", "--json")
    assert json.loads(inside.stdout) == json.loads(first.stdout)


def test_a_link_leading_outside_is_never_read(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret\n")
    os.symlink(secret, root / "out")
    os.symlink("../secret.txt", root / "rel-out")
    (root / "in.txt").write_text("in\n")
    os.symlink("in.txt", root / "in-link")
    tree = WorkTree.scan(root)
    assert tree.escapes("out") == str(secret) and tree.escapes("rel-out") == str(secret)
    assert tree.escapes("in-link") is None
    ids = tree.file_ids(["out", "rel-out", "in-link"])
    assert "->" not in ids["out"] and "->" not in ids["rel-out"], "the target was read"
    assert "->" in ids["in-link"], "a link inside is read through, as COPY does"
