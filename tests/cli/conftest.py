"""The command line called in-process: `buildorch.cli.run` (the click group plus the one place
that prints errors) under click's CliRunner isolation, so argument handling is tested as users
see it (exit code, stdout, stderr) at the speed of a function call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from click.testing import CliRunner

from buildorch.cli import run


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def bo_in_process(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    # No engine may be needed for anything tested here: a socket that cannot answer proves it.
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/buildorch-tests.sock")

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        with CliRunner().isolation(env=env) as (out, err, _):
            code = run(list(args))
        return Result(code, out.getvalue().decode(), err.getvalue().decode())

    return invoke
