"""Argument handling of the commands: bad values and unknown options are usage errors (exit 2,
nothing on stdout), what the user can fix is one `buildorch: error:` line (exit 1), and
contradictory options are refused before anything is read."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import Result
from tests.helpers import stack


@pytest.fixture
def repo(make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fixture stack (base -> a, b, c -> svc-a, svc-b; lone), committed; the cwd."""
    path = make_repo(stack("cli"))
    monkeypatch.chdir(path)
    return path


def _usage_error(r: Result, command: str, *says: str) -> None:
    assert r.code == 2, r
    assert r.out == ""
    assert r.err.startswith(f"Usage: buildorch {command}"), r.err
    [error] = [x for x in r.err.splitlines() if x.startswith("Error: ")]
    for text in says:
        assert text in error, error


def _one_error_line(r: Result, *says: str) -> str:
    assert r.code == 1, r
    assert r.out == ""
    [line] = r.err.splitlines()
    assert line.startswith("buildorch: error: ") and "Traceback" not in r.err
    for text in says:
        assert text in line, line
    return line


@pytest.mark.parametrize(("argv", "command", "says"), [
    (["build", "-j", "0"], "build", ["'-j' / '--jobs'", "0 is not in the range x>=1"]),
    (["build", "--jobs", "two"], "build", ["'two' is not a valid integer"]),
    (["build", "--cache-to", "s3"], "build",
     ["'--cache-to'", "'s3' is not one of 'local', 'registry', 'gha', 'inline'"]),
    (["build", "--progress", "fancy"], "build", ["'--progress'", "'fancy'"]),
    (["service", "svc-a", "--progress", "fancy"], "service", ["'--progress'"]),
    (["service", "svc-a", "-j", "0"], "service", ["0 is not in the range x>=1"]),
    (["graph", "--format", "svg"], "graph", ["'svg' is not one of 'tree', 'dot', 'json'"]),
    (["clean", "--policy", "all"], "clean", ["'all' is not one of 'basic', 'standard'"]),
    (["service"], "service", ["Missing argument 'NAME'"]),
    (["inputs"], "inputs", ["Missing argument 'NAME'"]),
    (["service", "a", "b"], "service", ["unexpected extra argument (b)"]),
    (["plan", "--al"], "plan", ["No such option", "'--al'", "'--all'"]),
    (["build", "--no-smok"], "build", ["No such option", "'--no-smoke'"]),
])
def test_bad_options_are_usage_errors(argv: list[str], command: str, says: list[str],
                                      bo_in_process: Callable[..., Result]) -> None:
    _usage_error(bo_in_process(*argv), command, *says)


def test_an_option_missing_its_value(bo_in_process: Callable[..., Result]) -> None:
    r = bo_in_process("build", "--since")
    assert r.code == 2 and r.out == ""
    assert "Option '--since' requires an argument" in r.err


def test_an_unknown_command_is_a_usage_error(bo_in_process: Callable[..., Result]) -> None:
    r = bo_in_process("biuld")
    assert r.code == 2 and r.out == ""
    assert "No such command 'biuld'" in r.err and r.err.startswith("Usage: buildorch ")
    assert bo_in_process("hook", "instal").code == 2


@pytest.mark.parametrize(("argv", "command", "says"), [
    (["plan", "--all", "base"], "plan", ["--all means every image", "not both"]),
    (["build", "--all", "lone"], "build", ["--all means every image"]),
    (["plan", "--all", "--since", "HEAD"], "plan", ["--all or --since REF, not both"]),
    (["build", "--since", "HEAD", "--all", "--dry-run"], "build", ["--all or --since REF"]),
    (["build", "--no-deps"], "build", ["--no-deps builds exactly the IMAGES named"]),
])
def test_contradictory_options_are_refused_before_anything_is_read(
        argv: list[str], command: str, says: list[str], tmp_path: Path,
        bo_in_process: Callable[..., Result]) -> None:
    # the cwd has no services.toml: the usage error comes first, not a missing config
    assert not (tmp_path / "services.toml").exists()
    _usage_error(bo_in_process(*argv), command, *says)


def test_the_options_that_do_go_together_still_work(
        repo: Path, bo_in_process: Callable[..., Result]) -> None:
    r = bo_in_process("plan", "--all", "--json")
    assert r.code == 0, r.err
    plan = json.loads(r.out)
    assert {s["name"] for s in plan["stale"]} == {"base", "a", "b", "c", "svc-a", "svc-b", "lone"}
    r = bo_in_process("plan", "--since", "HEAD", "svc-a", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out) == {"stale": [], "fresh": ["base", "a", "svc-a"]}   # ancestry


@pytest.mark.parametrize(("argv", "says"), [
    (["plan", "bas"], ["unknown image 'bas'; did you mean 'base'?"]),
    (["plan", "svc-a", "svcb"], ["unknown image 'svcb'; did you mean 'svc-b'?"]),
    (["plan", "zzzz"], ["unknown image 'zzzz'", "`buildorch graph` lists them"]),
    (["inputs", "lonely"], ["unknown image 'lonely'; did you mean 'lone'?"]),
    (["smoke", "lonee"], ["unknown image 'lonee'; did you mean 'lone'?"]),
])
def test_unknown_image_names_say_the_closest_one(
        argv: list[str], says: list[str], repo: Path,
        bo_in_process: Callable[..., Result]) -> None:
    _one_error_line(bo_in_process(*argv), *says)


def test_config_pointing_at_a_missing_file(tmp_path: Path,
                                           bo_in_process: Callable[..., Result]) -> None:
    missing = tmp_path / "nowhere" / "services.toml"
    line = _one_error_line(bo_in_process("--config", str(missing), "plan"),
                           str(missing), "not found", "--config FILE")
    # the environment variable is the same option, said the same way
    assert _one_error_line(bo_in_process("plan", env={"BUILDORCH_CONFIG": str(missing)})) \
        == line
    # validate lists it as a problem (its output is the list of problems, one a line)
    r = bo_in_process("--config", str(missing), "validate")
    assert r.code == 1 and r.err.splitlines() == [line.removeprefix("buildorch: error: ")]
    # and a config that is there is used, wherever the cwd is
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "Dockerfile").write_text("FROM busybox:1.36\n")
    (elsewhere / "services.toml").write_text('[project]\nregistry = "r"\n[services.x]\n')
    r = bo_in_process("--config", str(elsewhere / "services.toml"), "validate")
    assert r.code == 0 and r.out == "services.toml is valid\n", r.err


def test_no_config_found_upwards_says_what_to_do(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        bo_in_process: Callable[..., Result]) -> None:
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    _one_error_line(bo_in_process("plan"), "services.toml", "--config")


def test_since_a_ref_that_does_not_exist(repo: Path,
                                         bo_in_process: Callable[..., Result]) -> None:
    _one_error_line(bo_in_process("plan", "--since", "no-such-ref"),
                    "--since no-such-ref: not a commit", "git fetch")
