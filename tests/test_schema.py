"""services.toml as a schema: the declarations agree with the committed JSON Schema, the
configurations we ship and test with validate against it, the schema and the parser judge
values alike, and the command line offers the declared choices. Also `--version`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import click
import pytest

import buildorch
from buildorch import config_keys, schema
from buildorch.config_keys import Invalid, Key, Table
from tests import helpers, test_config
from tests.faults import test_bad_input

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "schema" / "services.schema.json"


def _jsonschema() -> ModuleType:
    return pytest.importorskip("jsonschema", reason="jsonschema is not installed (the dev "
                               "extra has it, through check-jsonschema)")


def _validator() -> Any:
    js = _jsonschema()
    js.Draft7Validator.check_schema(schema.json_schema())
    return js.Draft7Validator(schema.json_schema())


def test_the_committed_schema_is_what_the_declarations_make() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema.json_text(), (
        "schema/services.schema.json is stale: run `buildorch schema --output "
        "schema/services.schema.json`")


def test_the_repository_config_names_its_schema_for_editors() -> None:
    first = (ROOT / "services.toml").read_text().splitlines()[0]
    assert first == "#:schema ./schema/services.schema.json"
    assert (ROOT / "services.toml").parent.joinpath(first.split(maxsplit=1)[1]).is_file()


def _fixture_configs() -> dict[str, str]:
    return {
        "repository": (ROOT / "services.toml").read_text(),
        "test_config.GOOD": test_config.GOOD,
        "helpers.stack": helpers.stack("ns", extra=None)["services.toml"],
        "helpers.stack-registry-cache": helpers.stack(
            "ns", cache_from='["local", "registry"]', cache_to='["registry", "inline"]'
        )["services.toml"],
        "test_bad_input.TEMPLATE": test_bad_input.TEMPLATE.format(
            project="", cache="", tier="", image="", extra=""),
    }


@pytest.mark.parametrize("name", sorted(_fixture_configs()))
def test_shipped_and_fixture_configs_validate(name: str) -> None:
    data = tomllib.loads(_fixture_configs()[name])
    errors = [e.message for e in _validator().iter_errors(data)]
    assert errors == []


@pytest.mark.parametrize("text,where", [
    ('[project]\njbos = 3\n', "jbos"),
    ('[tiers.t]\ncleanup = "agressive"\n', "agressive"),
    ('[tiers.t]\ntimeout = 5\n', "timeout"),
    ('[services.Bad_Name]\ndockerfile = "x"\n', "Bad_Name"),
    ('[cache]\nto = ["s3"]\n', "s3"),
    ('[services.a]\nsmoke = "helthcheck"\n', "helthcheck"),
    ('[servces.a]\n', "servces"),
    ('[services.a]\ncontexts = { remote = "git://x/y" }\n', "contexts"),
    ('[services.a]\ncontexts = { Shared = "s" }\n', "Shared"),
])
def test_the_schema_refuses_what_validate_refuses(text: str, where: str) -> None:
    errors = list(_validator().iter_errors(tomllib.loads(text)))
    assert errors and any(where in (e.message + json.dumps(list(e.path))) for e in errors)


# Durations of zero ("0s") are the one known difference: the pattern matches, the parser refuses.
VALUES: list[object] = [
    5, 0, -1, 1.5, True, "", "x", "Bad Reg", "ghcr.io/acme", "127.0.0.1:5000", "v1.2", "20m",
    "1h30m", "500ms", "-5m", "soon", "4GB", "1.5 GB", "-1GB", "500MiB", "lots", 1024, [],
    ["a"], [1], ["local", "s3"],
    ["inline"], ["local", "registry"], {}, {"A": 1}, {"A": "x"}, {"1A": "x"}, {"A": [1]},
    {"A": True}, "healthcheck", "helthcheck", ["sh", "-c", "true"], ["sh", ""], "none",
    "basic", "agressive", "tier-1", "../x",
    {"shared": "../shared"}, {"root": "target:base"}, {"root": "target:"},
    {"tools": "docker-image://busybox:1.36"}, {"tools": "docker-image://"},
    {"remote": "https://x/y.git"}, {"a/b:1@x": "x"}, {"-a": "x"}, {"shared": ""},
]


def _keys() -> list[tuple[str, str]]:
    return [(t.path, k.name) for t in config_keys.TABLES for k in t.keys]


@pytest.mark.parametrize("table,key", _keys())
def test_schema_and_parser_judge_each_value_alike(table: str, key: str) -> None:
    """Each declared key: the JSON Schema accepts exactly the values its check accepts."""
    js = _jsonschema()
    decl: Table = next(t for t in config_keys.TABLES if t.path == table)
    k: Key = decl.key(key)
    sub = schema.json_schema()["definitions"][schema._DEFS[table]]["properties"][key]
    validator = js.Draft7Validator(sub)
    differ = []
    for value in VALUES:
        try:
            k.parse(value, {"known": ""})
            parsed = True
        except Invalid:
            parsed = False
        if parsed != validator.is_valid(value):
            differ.append(f"{value!r}: parser {parsed}, schema {not parsed}")
    assert differ == [], f"[{table}] {key}"


def test_defaults_are_declared_once_and_held_by_the_dataclasses() -> None:
    from buildorch.config import Tier

    t = Tier("x")
    assert (t.timeout, t.step_timeout, t.max_parallel, t.min_free, t.cleanup, t.builder,
            t.smoke_timeout) == (2400.0, None, None, 0, "none", None, 60.0)
    assert config_keys.TIER.key("timeout").default == "40m"   # the one place it is written
    assert schema.json_schema()["definitions"]["tier"]["properties"]["timeout"]["default"] \
        == "40m"


def test_the_reference_names_every_key_with_type_default_and_choices() -> None:
    md = schema.reference_markdown()
    for table in config_keys.TABLES:
        assert f"## `[{table.path}]`" in md
        section = md.split(f"## `[{table.path}]`")[1].split("\n## ")[0].splitlines()
        for k in table.keys:
            [row] = [line for line in section if line.startswith(f"| `{k.name}` |")]
            assert k.doc.replace("|", "\\|") in row and k.type.name in row
            if k.default is not None:
                assert json.dumps(k.default) in row
    assert "`local`, `registry`, `gha`, `inline`" in md   # [cache] to's choices
    assert "`none`, `basic`, `standard`, `conservative`" in md
    assert "#:schema ./schema/services.schema.json" in md


def _choices(module: str, option: str) -> tuple[str, ...]:
    from buildorch.cli import cli

    command = cli.get_command(click.Context(cli), module)
    assert command is not None
    [param] = [p for p in command.params if option in getattr(p, "opts", ())]
    assert isinstance(param.type, click.Choice)
    return tuple(param.type.choices)


def test_command_line_choices_are_the_declared_ones() -> None:
    assert _choices("build", "--cache-to") == config_keys.CACHE_SINKS
    assert _choices("build", "--progress") == config_keys.PROGRESS_MODES
    assert _choices("service", "--progress") == config_keys.PROGRESS_MODES
    assert _choices("clean", "--policy") == config_keys.CLEAN_POLICIES
    assert set(config_keys.CLEAN_POLICIES) - {"emergency"} \
        == set(config_keys.CLEANUP_POLICIES) - {"none"}


def _bo(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "buildorch", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_schema_command_prints_and_writes_it(tmp_path: Path) -> None:
    p = _bo("schema")
    assert p.returncode == 0 and json.loads(p.stdout) == schema.json_schema()
    p = _bo("schema", "--output", str(tmp_path / "s.json"))
    assert p.returncode == 0 and p.stdout == ""
    assert (tmp_path / "s.json").read_text() == schema.json_text()
    p = _bo("schema", "--format", "markdown")
    assert p.returncode == 0 and p.stdout.strip() == schema.reference_markdown().strip()


def test_a_config_carrying_a_schema_line_loads(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox:1.36\n")
    (tmp_path / "services.toml").write_text(
        "#:schema https://example.org/services.schema.json\n"
        '[services.app]\ndockerfile = "Dockerfile"\n')
    p = _bo("validate", cwd=tmp_path)
    assert p.returncode == 0, p.stderr


def test_init_can_start_the_file_with_a_schema_line(tmp_path: Path) -> None:
    helpers.git(tmp_path, "init", "-q")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text("FROM busybox:1.36\n")
    helpers.git(tmp_path, "add", "-A")
    p = _bo("init", "--schema", "./schema/services.schema.json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    text = (tmp_path / "services.toml").read_text()
    assert text.splitlines()[0] == "#:schema ./schema/services.schema.json"
    assert "[services.app]" in text
    p = _bo("validate", cwd=tmp_path)
    assert p.returncode == 0, p.stderr


def test_version_is_declared_once_and_reported() -> None:
    p = _bo("--version")
    assert p.returncode == 0
    assert p.stdout.strip() == f"buildorch, version {buildorch.__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", buildorch.__version__)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "buildorch.__version__"}
    assert project["project"]["license"] == "MIT"
