"""Compose files read as compose reads them: PyYAML, then compose's interpolation and merging."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildorch.errors import BuildorchError
from buildorch.ops import compose
from tests.helpers import unavailable

ENV = {"A": "1", "EMPTY": ""}


@pytest.mark.parametrize(("text", "expect"), [
    ("${A}", "1"), ("$A", "1"), ("x${A}y", "x1y"), ("$$A", "$A"), ("${B}", ""),
    ("${B:-d}", "d"), ("${B-d}", "d"), ("${EMPTY:-d}", "d"), ("${EMPTY-d}", ""),
    ("${A:-d}", "1"), ("${A:+alt}", "alt"), ("${B:+alt}", ""), ("${B:-${A}}", "1"),
    ("${B:-x-${C:-y}}", "x-y"), ("a $ b", "a $ b"), ("${A?m}", "1"),
])
def test_interpolation(text: str, expect: str) -> None:
    assert compose.interpolate(text, ENV, "f") == expect


@pytest.mark.parametrize(("text", "message"), [
    ("${B:?needs B}", "f: required variable B is missing a value: needs B; set it in the "
                      "environment or .env"),
    ("${EMPTY:?}", "f: required variable EMPTY is missing a value; set it in the environment "
                   "or .env"),
    ("${A", "f: invalid interpolation format for '${A': an unclosed ${; close it or write $$ "
            "for a literal $"),
    ("${A!x}", "f: invalid interpolation format ${A!x}; use ${A}, ${A:-default} or "
               "${A:?message}"),
])
def test_interpolation_errors_are_one_line(text: str, message: str) -> None:
    with pytest.raises(BuildorchError) as info:
        compose.interpolate(text, ENV, "f")
    assert str(info.value) == message


def test_dotenv() -> None:
    text = ("# c\nA=1\nexport B = two\nC='x # y'\nD=\"l1\\nl2\"\nE=v # comment\nbad line\n"
            "1X=no\n")
    assert compose.read_dotenv(text) == {"A": "1", "B": "two", "C": "x # y", "D": "l1\nl2",
                                         "E": "v"}


def test_projects_group_default_files_with_their_override() -> None:
    paths = ["compose.yaml", "compose.override.yaml", "docker-compose.yml", "compose.prod.yml",
             "deploy/docker-compose.yml", "deploy/docker-compose.override.yml", "README.md",
             "x/composer.json", "docker-compose.yml.bak"]
    assert compose.projects(paths) == [
        ["compose.yaml", "compose.override.yaml"], ["compose.prod.yml"],
        ["docker-compose.yml"],
        ["deploy/docker-compose.yml", "deploy/docker-compose.override.yml"]]


def test_files_merge_in_override_order(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(
        "x-b: &b {context: app, args: [A=1, B=2]}\n"
        "services:\n  app:\n    build: *b\n    image: r/app\n  base:\n    build: base\n")
    (tmp_path / "b.yml").write_text(
        "services:\n  app:\n    build:\n      args: {B: '3', C: '${C:-4}'}\n      target: t\n")
    entries, notes = compose.read([tmp_path / "a.yml", tmp_path / "b.yml"], {},
                                  use_plugin=False)
    assert notes == []
    app, base = entries
    assert (app.key, app.context, app.dockerfile, app.target, app.images) == (
        "app", tmp_path / "app", tmp_path / "app/Dockerfile", "t", ("r/app",))
    assert dict(app.args) == {"A": "1", "B": "3", "C": "4"}
    assert (base.context, base.origin) == (tmp_path / "base", "a.yml + b.yml")


def test_yaml_errors_name_the_line(tmp_path: Path) -> None:
    (tmp_path / "compose.yml").write_text("services:\n  a:\n    build: [\n")
    with pytest.raises(BuildorchError, match=r"^compose\.yml:4: YAML error: .*; fix the file$"):
        compose.read([tmp_path / "compose.yml"], {}, use_plugin=False)


def test_remote_and_inline_builds_are_kept_as_unplaced(tmp_path: Path) -> None:
    (tmp_path / "compose.yml").write_text(
        "services:\n  r:\n    build: https://github.com/x/y.git\n"
        "  i:\n    build:\n      dockerfile_inline: FROM busybox\n"
        "  e:\n    build:\n      context: .\n      args: [FROM_ENV]\n"
        "      cache_from: [r/e:cache]\n")
    entries, notes = compose.read([tmp_path / "compose.yml"], {}, use_plugin=False)
    assert [(e.key, e.unplaced.split(" (")[0]) for e in entries] == [
        ("r", "remote build context https://github.com/x/y.git"), ("i", "dockerfile_inline"),
        ("e", "")]
    assert notes == ["compose.yml: services.e: build arg FROM_ENV takes its value from the "
                     "environment; left out (add it under args)",
                     "compose.yml: services.e: cache_from left out: [cache] in services.toml "
                     "says where every image's cache comes from (registry, local, gha)"]


def test_the_plugin_and_pyyaml_agree(tmp_path: Path) -> None:
    if not compose.plugin_available():
        unavailable("the docker compose plugin is not installed: the PyYAML reader is what "
                    "runs (and is tested above); scripts/engine.sh installs it")
    (tmp_path / "app").mkdir()
    (tmp_path / "compose.yml").write_text(
        "x-b: &b {context: app, args: {A: '${A:-1}'}}\n"
        "services:\n  app:\n    build:\n      <<: *b\n      target: t\n    image: r/app:2\n")
    assert compose.read([tmp_path / "compose.yml"], {}, use_plugin=True)[0] == \
        compose.read([tmp_path / "compose.yml"], {}, use_plugin=False)[0]


# -- extends (issue 20: the seed's docker-compose.test.yml extends the main file) -------------

@pytest.mark.parametrize("use_plugin", [False, True])
def test_extends_is_merged_before_anything_is_read(tmp_path: Path, use_plugin: bool) -> None:
    if use_plugin and not compose.plugin_available():
        pytest.skip("the docker compose plugin is not installed")
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc/Dockerfile").write_text("FROM busybox:1.36\n")
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  stt:\n    build:\n      context: svc\n      args:\n        A: '1'\n"
        "        BUILDKIT_INLINE_CACHE: 1\n    image: reg/stt:latest\n"
        "  stt-dev:\n    extends: stt\n    build:\n      target: dev\n")
    (tmp_path / "docker-compose.test.yml").write_text(
        "services:\n  stt-test:\n    extends:\n      file: docker-compose.yml\n"
        "      service: stt\n    build:\n      args:\n        B: '2'\n")
    main, notes = compose.read([tmp_path / "docker-compose.yml"], {}, use_plugin=use_plugin)
    assert notes == []
    by_key = {e.key: e for e in main}
    assert by_key["stt-dev"].target == "dev"
    assert by_key["stt-dev"].dockerfile == tmp_path / "svc/Dockerfile"
    # buildorch passes BUILDKIT_INLINE_CACHE=1 on every build: never copied
    assert by_key["stt"].args == (("A", "1"),)
    [test] = compose.read([tmp_path / "docker-compose.test.yml"], {}, use_plugin=use_plugin)[0]
    assert (test.key, test.context, test.dockerfile, test.args) == (
        "stt-test", tmp_path / "svc", tmp_path / "svc/Dockerfile", (("A", "1"), ("B", "2")))


def test_an_extends_cycle_is_one_line(tmp_path: Path) -> None:
    f = tmp_path / "compose.yaml"
    f.write_text("services:\n  a:\n    extends: b\n  b:\n    extends: a\n")
    with pytest.raises(BuildorchError) as info:
        compose.read([f], {}, use_plugin=False)
    assert "extends form a cycle: compose.yaml:b -> compose.yaml:a -> compose.yaml:b" in \
        str(info.value)
