"""The build args of one image's build: each passed once (issue 20: a compose arg copied into
services.toml was passed beside buildorch's own)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from buildorch.planning.baseline import open_config, work_snapshot
from buildorch.running.options import BuildOptions
from buildorch.running.spec import argv, spec_for
from tests.helpers import seed


def test_an_arg_buildorch_sets_itself_is_passed_once(make_repo: Callable[..., Path]) -> None:
    files = seed("ghcr.io/acme")
    files["services.toml"] = files["services.toml"].replace(
        'dockerfile = "services/llm/Dockerfile"\n',
        'dockerfile = "services/llm/Dockerfile"\n'
        'args = { BUILDKIT_INLINE_CACHE = "1", MODEL = "small" }\n')
    repo = make_repo(files)
    cfg = open_config(repo / "services.toml")
    record = work_snapshot(cfg).records["llm"]
    cmd = argv(spec_for(cfg, "llm", record, BuildOptions()))
    args = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--build-arg"]
    assert sorted(args) == ["BUILDKIT_INLINE_CACHE=1", "MODEL=small"]
    # an image without args gets buildorch's own, once
    cmd = argv(spec_for(cfg, "stt", work_snapshot(cfg).records["stt"], BuildOptions()))
    assert [cmd[i + 1] for i, a in enumerate(cmd) if a == "--build-arg"] == \
        ["BUILDKIT_INLINE_CACHE=1"]
