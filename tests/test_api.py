"""The public Python API: what `__all__` names resolves, imports stay cheap, and it plans."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

import buildorch
from tests.helpers import PREFIX, record_manifest, story

HEAVY = ("docker", "rich", "networkx", "tenacity")

FILES = {
    "services.toml": "[tiers.foundation]\n[tiers.services]\n"
                     '[base.base]\ndockerfile = "base.Dockerfile"\ntier = "foundation"\n'
                     '[services.app]\ndockerfile = "app/Dockerfile"\ntier = "services"\n',
    "base.Dockerfile": "FROM busybox:1.36\nCOPY base.txt /base.txt\n",
    "base.txt": "v1\n",
    "app/Dockerfile": "FROM base\nCOPY app/main.py /main.py\n",
    "app/main.py": "print('hi')\n",
}


def test_every_public_name_resolves() -> None:
    for name in buildorch.__all__:
        assert getattr(buildorch, name) is not None, name
    with pytest.raises(AttributeError):
        buildorch.no_such_thing  # noqa: B018


def _modules_after(code: str, cwd: Path) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json\n"
                          "print(json.dumps(sorted(sys.modules)))"],
                         cwd=cwd, check=True, capture_output=True, text=True).stdout
    return {m.split(".")[0] for m in json.loads(out.splitlines()[-1])}


def test_import_buildorch_imports_nothing_heavy(tmp_path: Path) -> None:
    loaded = _modules_after("import buildorch", tmp_path)
    assert not loaded & {*HEAVY, "click", "git"}


def test_plan_command_imports_none_of_docker_rich_networkx_tenacity(
        make_repo: Callable[..., Path]) -> None:
    repo = make_repo(FILES)
    code = ("import sys\nfrom buildorch.cli import cli\n"
            "try:\n    cli.main(['plan'], standalone_mode=False)\nexcept SystemExit:\n    pass")
    loaded = _modules_after(code, repo)
    assert "buildorch" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_api_plans_a_repository(make_repo: Callable[..., Path]) -> None:
    repo = make_repo(FILES)
    cfg = buildorch.load_config(repo / "services.toml")
    assert [s.name for s in buildorch.plan(cfg).plan.stale] == ["base", "app"]
    record_manifest(repo)
    assert buildorch.plan(cfg).plan.stale == ()
    (repo / "base.txt").write_text("v2\n")
    stale = {s.name: s.reasons for s in buildorch.plan(cfg).plan.stale}
    assert stale == {"base": ("input changed: base.txt",), "app": ("parent base rebuilt",)}
    assert [s.name for s in buildorch.plan(cfg, images=["base"]).plan.stale] == ["base"]


def test_buildx_argv_is_the_command_for_one_image(make_repo: Callable[..., Path]) -> None:
    repo = make_repo(FILES)
    argv = buildorch.buildx_argv(buildorch.load_config(repo / "services.toml"), "app")
    assert argv[:3] == ["docker", "buildx", "build"]
    assert str(repo / "app" / "Dockerfile") in argv


def test_a_no_change_build_imports_neither_docker_py_nor_tenacity(
        make_repo: Callable[..., Path], engine: None) -> None:
    ns = f"{PREFIX}api-{uuid.uuid4().hex[:8]}"
    files = {**FILES, "services.toml": f'[project]\nregistry = "{ns}"\n' + FILES["services.toml"],
             "app/Dockerfile": f"FROM {ns}/base:latest\nCOPY app/main.py /main.py\n"}
    repo = make_repo(files)
    cfg = buildorch.load_config(repo / "services.toml")
    events: list[buildorch.Event] = []
    report = buildorch.build(cfg, buildorch.BuildOptions(), on_event=events.append)
    assert report.ok, story([e.to_json() for e in events], "")
    assert [e.image for e in events if isinstance(e, buildorch.Finished)] == ["base", "app"]
    code = ("from buildorch.cli import main\nimport sys\nsys.argv = ['buildorch', 'build', "
            "'--progress', 'plain']\ntry:\n    main()\nexcept SystemExit as e:\n"
            "    assert e.code == 0, e.code")
    loaded = _modules_after(code, repo)
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


BUILDING_HALF = ("buildorch.running.execute", "buildorch.running.pipeline",
                 "buildorch.running.scheduler", "buildorch.running.buildx",
                 "buildorch.running.registry", "buildorch.edges.capabilities",
                 "buildorch.ops.disk")


def test_a_no_change_build_loads_none_of_the_building_half(
        make_repo: Callable[..., Path], engine: None) -> None:
    ns = f"{PREFIX}api-{uuid.uuid4().hex[:8]}"
    repo = make_repo({**FILES, "services.toml": f'[project]\nregistry = "{ns}"\n'
                      + FILES["services.toml"],
                      "app/Dockerfile": f"FROM {ns}/base:latest\nCOPY app/main.py /main.py\n"})
    cfg = buildorch.load_config(repo / "services.toml")
    assert buildorch.build(cfg).ok
    code = ("from buildorch.cli import main\nimport sys\nsys.argv = ['buildorch', 'build', "
            "'--progress', 'plain']\ntry:\n    main()\nexcept SystemExit as e:\n"
            "    assert e.code == 0, e.code\nimport json\nprint(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, check=True,
                         capture_output=True, text=True).stdout
    loaded = set(json.loads(out.splitlines()[-1]))
    assert "buildorch.running.build" in loaded
    assert not loaded & set(BUILDING_HALF), sorted(loaded & set(BUILDING_HALF))


def test_api_build_runs_the_disk_guard(make_repo: Callable[..., Path], engine: None) -> None:
    """The disk guard is passed in by the caller; the public API passes it."""
    ns = f"{PREFIX}api-{uuid.uuid4().hex[:8]}"
    toml = FILES["services.toml"].replace(
        "[tiers.services]\n", '[tiers.services]\nmin_free = "100TB"\ncleanup = "none"\n')
    repo = make_repo({**FILES, "services.toml": f'[project]\nregistry = "{ns}"\n' + toml,
                      "app/Dockerfile": f"FROM {ns}/base:latest\nCOPY app/main.py /main.py\n"})
    cfg = buildorch.load_config(repo / "services.toml")
    events: list[buildorch.Event] = []
    report = buildorch.build(cfg, on_event=events.append)
    story_ = story([e.to_json() for e in events], "")
    assert not report.ok, story_
    assert report.images["base"].result == "built", story_
    assert report.images["app"].result == "failed", story_
    reason = report.images["app"].reason
    assert "tier services" in reason and "100" in reason and "free" in reason, reason
