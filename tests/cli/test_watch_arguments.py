"""`buildorch watch` refuses what it can before asking the engine anything (no engine here)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import Result
from tests.helpers import write_files

FILES = {
    "services.toml": '[services.web]\ndockerfile = "web/Dockerfile"\n',
    "web/Dockerfile": "FROM busybox:1.36\nCOPY web/ /app/\n",
}


def test_unknown_image_is_one_line_with_a_hint(tmp_path: Path,
                                               bo_in_process: Callable[..., Result]) -> None:
    write_files(tmp_path, FILES)
    r = bo_in_process("--config", str(tmp_path / "services.toml"), "watch", "wbe")
    assert r.code == 1
    assert r.err == "buildorch: error: unknown image 'wbe'; did you mean 'web'?\n"


def test_up_without_a_compose_file_says_where_to_name_one(
        tmp_path: Path, bo_in_process: Callable[..., Result]) -> None:
    write_files(tmp_path, FILES)
    r = bo_in_process("--config", str(tmp_path / "services.toml"), "watch", "--up")
    assert r.code == 1 and r.err.count("\n") == 1
    assert "--up: no compose file in" in r.err and "[project] compose" in r.err


def test_up_with_two_compose_projects_asks_which(
        tmp_path: Path, bo_in_process: Callable[..., Result]) -> None:
    write_files(tmp_path, {**FILES, "a/compose.yaml": "services: {}\n",
                           "b/compose.yaml": "services: {}\n"})
    r = bo_in_process("--config", str(tmp_path / "services.toml"), "watch", "--up")
    assert r.code == 1
    assert "2 compose projects" in r.err and "a/compose.yaml; b/compose.yaml" in r.err


def test_project_compose_names_the_file_to_use(
        tmp_path: Path, bo_in_process: Callable[..., Result]) -> None:
    toml = '[project]\ncompose = ["a/compose.yaml"]\n' + FILES["services.toml"]
    write_files(tmp_path, {**FILES, "services.toml": toml, "a/compose.yaml": "services: {}\n",
                           "b/compose.yaml": "services: {}\n"})
    r = bo_in_process("--config", str(tmp_path / "services.toml"), "watch", "--up")
    # past the compose check: what stops it now is the engine this test does not have
    assert r.code == 1 and "compose" not in r.err and "engine" in r.err.lower(), r.err
    write_files(tmp_path, {"services.toml": toml.replace("a/compose", "c/compose")})
    r = bo_in_process("--config", str(tmp_path / "services.toml"), "watch", "--up")
    assert r.code == 1 and "[project] compose names" in r.err and "c/compose.yaml" in r.err
