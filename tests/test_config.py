"""services.toml: the schema, units, and one clear line for every bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildorch.config import load
from buildorch.errors import ConfigError
from buildorch.units import parse_duration, parse_size

GOOD = """
[project]
registry = "ghcr.io/acme"
jobs = 3

[tiers.foundation]
timeout = "20m"
step_timeout = "1h30m"
max_parallel = 1
min_free = "4GB"
cleanup = "basic"

[tiers.services]

[base.python-base]
tier = "foundation"
dockerfile = "base.Dockerfile"
args = { PYTHON_VERSION = "3.11", N = 3 }

[services.stt]
tier = "services"
dockerfile = "stt/Dockerfile"
context = "stt"
depends_on = ["python-base"]
"""


def _write(tmp_path: Path, text: str, files: tuple[str, ...] = ("base.Dockerfile",
                                                                "stt/Dockerfile")) -> Path:
    (tmp_path / ".git").mkdir(exist_ok=True)
    for f in files:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("FROM scratch\n")
    p = tmp_path / "services.toml"
    p.write_text(text)
    return p


def _problems(tmp_path: Path, text: str, **kw: tuple[str, ...]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(_write(tmp_path, text, **kw))
    return info.value.problems


def test_good_config_is_parsed_into_frozen_values(tmp_path: Path) -> None:
    cfg = load(_write(tmp_path, GOOD))
    assert cfg.registry == "ghcr.io/acme" and cfg.jobs == 3 and cfg.tag == "latest"
    t = cfg.tiers["foundation"]
    assert (t.timeout, t.step_timeout, t.max_parallel, t.min_free, t.cleanup) == (
        1200.0, 5400.0, 1, 4_000_000_000, "basic")
    assert cfg.tiers["services"].cleanup == "none"
    stt = cfg.images["stt"]
    assert (stt.kind, stt.context, stt.dockerfile, stt.depends_on) == (
        "service", "stt", "stt/Dockerfile", ("python-base",))
    assert cfg.images["python-base"].args == (("N", "3"), ("PYTHON_VERSION", "3.11"))
    assert cfg.ref("stt") == "ghcr.io/acme/stt:latest"
    with pytest.raises(AttributeError):
        stt.tier = "x"  # type: ignore[misc]


@pytest.mark.parametrize("text,seconds", [
    ("20m", 1200), ("1h30m", 5400), ("45s", 45), ("500ms", 0.5), ("2h", 7200)])
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["20", "m", "20 minutes", "", "-5m", "1h30", 0, True, 5, 90.0])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize("text,size", [
    ("4GB", 4 * 10**9), ("500MiB", 500 * 2**20), ("1.5 GB", 1_500_000_000), ("0", 0),
    (1024, 1024), ("10kb", 10_000)])
def test_sizes(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["4 gigs", "GB", "-1GB", -3])
def test_bad_sizes(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_size(bad)


def test_toml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    [p] = _problems(tmp_path, "[project]\nregistry = \n")
    assert p.startswith("services.toml: TOML syntax error") and "line 2" in p and "column" in p


def test_unknown_keys_get_the_closest_valid_one(tmp_path: Path) -> None:
    text = GOOD.replace('tier = "foundation"', 'tier = "foundation"\ndockerfil = "x"')
    text = text.replace("max_parallel = 1", "max_paralel = 1").replace("jobs = 3", "jbos = 3")
    probs = _problems(tmp_path, text)
    assert "services.toml: [base.python-base]: unknown key 'dockerfil'; did you mean " \
        "'dockerfile'?" in probs
    assert "services.toml: [tiers.foundation]: unknown key 'max_paralel'; did you mean " \
        "'max_parallel'?" in probs
    assert any("[project]: unknown key 'jbos'; did you mean 'jobs'?" in p for p in probs)


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    text = GOOD.replace('tier = "services"', 'tier = "servics"')
    text = text.replace('dockerfile = "base.Dockerfile"', 'dockerfile = "missing.Dockerfile"')
    text = text.replace('depends_on = ["python-base"]', 'depends_on = ["python-bse"]')
    text += '\n[services.Bad_Name]\ntier = "services"\ndockerfile = "stt/Dockerfile"\n'
    text += '\n[services.outside]\ntier = "services"\ndockerfile = "stt/Dockerfile"\n' \
        'context = "../elsewhere"\n'
    probs = _problems(tmp_path, text)
    joined = "\n".join(probs)
    assert "[services.stt]: unknown tier 'servics'; did you mean 'services'?" in joined
    assert "[base.python-base]: dockerfile 'missing.Dockerfile' does not exist" in joined
    assert "'Bad_Name' is not a valid image name" in joined
    assert "[services.outside]: context '../elsewhere' is outside the repository" in joined
    assert len(probs) >= 4


def test_depends_on_naming_nothing(tmp_path: Path) -> None:
    text = GOOD.replace('depends_on = ["python-base"]', 'depends_on = ["python-bse"]')
    [p] = _problems(tmp_path, text)
    assert p == ("services.toml: [services.stt]: depends_on names 'python-bse', which is not an "
                 "image here; did you mean 'python-base'?")


@pytest.mark.parametrize("key,value,expect", [
    ("cleanup", '"agressive"', "cleanup = 'agressive' is not a policy"),
    ("max_parallel", "0", "max_parallel = 0 must be a whole number >= 1"),
    ("timeout", '"soon"', "timeout: 'soon' is not a duration"),
    ("min_free", '"lots"', "min_free: 'lots' is not a size"),
])
def test_bad_tier_values(tmp_path: Path, key: str, value: str, expect: str) -> None:
    import re

    text = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", GOOD, count=1)
    probs = _problems(tmp_path, text)
    assert any(p.startswith("services.toml: [tiers.foundation]: ") and expect in p
               for p in probs), probs


def test_no_images_is_an_error(tmp_path: Path) -> None:
    [p] = _problems(tmp_path, "[project]\n")
    assert "no images" in p


def test_image_declared_twice(tmp_path: Path) -> None:
    text = GOOD + '\n[services.python-base]\ntier = "services"\ndockerfile = "stt/Dockerfile"\n'
    assert any("declared twice" in p for p in _problems(tmp_path, text))


def test_default_dockerfile_is_in_the_context(tmp_path: Path) -> None:
    text = ('[tiers.t]\n[services.app]\ntier = "t"\ncontext = "app"\n')
    cfg = load(_write(tmp_path, text, files=("app/Dockerfile",)))
    assert cfg.images["app"].dockerfile == "app/Dockerfile"


def test_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    sub = tmp_path / "deploy"
    sub.mkdir()
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text("FROM scratch\n")
    (sub / "services.toml").write_text(
        '[tiers.t]\n[services.app]\ntier = "t"\ncontext = "../app"\ninputs = ["x/*.py"]\n')
    cfg = load(sub / "services.toml")
    assert cfg.root == tmp_path and cfg.images["app"].context == "app"
    assert cfg.images["app"].inputs == ("/deploy/x/*.py",)


def test_zero_config_services_table_is_enough(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox:1.36\n")
    path = tmp_path / "services.toml"
    path.write_text('[services.app]\ndockerfile = "Dockerfile"\n')
    cfg = load(path)
    assert cfg.images["app"].tier == "services" and cfg.images["app"].context == "."
    assert cfg.tiers["services"].timeout == 40 * 60   # the seed's policy for services


def test_base_tables_default_to_tier_base_and_seed_tiers_are_implicit(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox:1.36\n")
    path = tmp_path / "services.toml"
    path.write_text('[tiers.mine]\n[base.b]\ndockerfile = "Dockerfile"\n'
                    '[base.c]\ntier = "tier-2"\ndockerfile = "Dockerfile"\n'
                    '[services.app]\ntier = "mine"\ndockerfile = "Dockerfile"\n')
    cfg = load(path)
    assert (cfg.images["b"].tier, cfg.images["c"].tier) == ("base", "tier-2")
    assert list(cfg.tiers) == ["mine", "base", "tier-2"]
    assert cfg.tiers["tier-2"].max_parallel == 2 and cfg.tiers["tier-2"].min_free == 4 * 10**9
    assert cfg.tiers["mine"].cleanup == "none"    # a declared tier keeps its own keys


def test_a_tier_typo_is_still_caught_without_tiers_tables(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox:1.36\n")
    path = tmp_path / "services.toml"
    path.write_text('[services.app]\ntier = "service"\ndockerfile = "Dockerfile"\n')
    with pytest.raises(ConfigError) as info:
        load(path)
    assert info.value.problems == [
        "services.toml: [services.app]: unknown tier 'service'; did you mean 'services'?"]


def test_an_invalid_image_table_is_not_also_no_images(tmp_path: Path) -> None:
    path = tmp_path / "services.toml"
    path.write_text('[services.app]\ndockerfile = "missing/Dockerfile"\n')
    with pytest.raises(ConfigError) as info:
        load(path)
    assert info.value.problems == [
        "services.toml: [services.app]: dockerfile 'missing/Dockerfile' does not exist; "
        "fix the path or create it"]


def test_a_tier_that_is_not_a_string_is_one_problem(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox:1.36\n")
    path = tmp_path / "services.toml"
    path.write_text('[services.app]\ntier = ["services"]\ndockerfile = "Dockerfile"\n')
    with pytest.raises(ConfigError) as info:
        load(path)
    assert info.value.problems == [
        "services.toml: [services.app]: tier must be a string naming a tier"]


def test_smoke_checks_and_smoke_timeout(tmp_path: Path) -> None:
    text = GOOD.replace('cleanup = "basic"', 'cleanup = "basic"\nsmoke_timeout = "90s"')
    text = text.replace('args = { PYTHON_VERSION', 'smoke = "healthcheck"\nargs = { PYTHON_VERSION')
    text = text.replace('depends_on = ["python-base"]',
                        'depends_on = ["python-base"]\nsmoke = ["python", "-c", "import app"]')
    cfg = load(_write(tmp_path, text))
    assert cfg.tiers["foundation"].smoke_timeout == 90.0
    assert cfg.tiers["services"].smoke_timeout == 60.0      # the default
    base, stt = cfg.images["python-base"].smoke, cfg.images["stt"].smoke
    assert base is not None and base.healthcheck and base.argv == ()
    assert stt is not None and not stt.healthcheck
    assert stt.argv == ("python", "-c", "import app")
    assert stt.describe() == "python -c 'import app'"


@pytest.mark.parametrize("value,expect", [
    ('"helthcheck"', "smoke = 'helthcheck' is neither a command list nor \"healthcheck\"; "
                     "did you mean \"healthcheck\"?"),
    ('"pytest -q"', 'write a command as a list, e.g. smoke = ["pytest", "-q"], or '
                    'smoke = "healthcheck"'),
    ("[]", 'smoke must be a non-empty list of strings like ["python", "-c", "import app"] '
           'or "healthcheck"'),
    ('["sh", 1]', "smoke must be a non-empty list of strings"),
    ("true", "smoke must be a non-empty list of strings"),
])
def test_bad_smoke_values_are_one_line_each(tmp_path: Path, value: str, expect: str) -> None:
    text = GOOD.replace('depends_on = ["python-base"]',
                        f'depends_on = ["python-base"]\nsmoke = {value}')
    [p] = _problems(tmp_path, text)
    assert p.startswith("services.toml: [services.stt]: ") and expect in p, p


def test_smoke_typos_and_bad_smoke_timeout(tmp_path: Path) -> None:
    text = GOOD.replace('cleanup = "basic"', 'cleanup = "basic"\nsmoke_timout = "1m"')
    text = text.replace('depends_on = ["python-base"]', 'depends_on = ["python-base"]\nsmok = []')
    text = text.replace("[tiers.services]", '[tiers.services]\nsmoke_timeout = "soon"')
    probs = _problems(tmp_path, text)
    assert "services.toml: [tiers.foundation]: unknown key 'smoke_timout'; did you mean " \
        "'smoke_timeout'?" in probs
    assert "services.toml: [services.stt]: unknown key 'smok'; did you mean 'smoke'?" in probs
    assert any(p.startswith("services.toml: [tiers.services]: smoke_timeout: 'soon' is not a "
                            "duration") for p in probs), probs


def test_contexts_take_a_folder_an_image_or_a_configured_target(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    cfg = load(_write(tmp_path, """
[base.base]
dockerfile = "base.Dockerfile"
[services.stt]
dockerfile = "stt/Dockerfile"
contexts = { shared = "shared", tools = "docker-image://busybox:1.36", root = "target:base" }
"""))
    assert cfg.images["stt"].contexts == (
        ("root", "target:base"), ("shared", "shared"), ("tools", "docker-image://busybox:1.36"))


def test_bad_contexts_are_each_one_line(tmp_path: Path) -> None:
    probs = _problems(tmp_path, """
[base.base]
dockerfile = "base.Dockerfile"
contexts = { a = "missing", b = "target:nope", c = "target:base", d = "https://x/y.git", e = 3 }
""")
    assert len(probs) == 5, probs
    # the key's own checks first (config_keys), then the folder, then the images named
    assert "contexts.d = 'https://x/y.git': only a folder" in probs[0]
    assert "contexts.e = 3 must be a path" in probs[1]
    assert "contexts.a = 'missing' is not a directory" in probs[2]
    assert "names no image 'nope'" in probs[3]
    assert "contexts.c = 'target:base' names the image itself" in probs[4]


def test_escapes_for_many_paths_agrees_with_escapes(tmp_path: Path) -> None:
    from buildorch.config import Escapes, escapes

    root, outside = tmp_path / "repo", tmp_path / "outside"
    (root / "a/b").mkdir(parents=True)
    (outside / "d").mkdir(parents=True)
    (root / "a/b/Dockerfile").write_text("FROM x\n")
    (outside / "d/Dockerfile").write_text("FROM x\n")
    (root / "out").symlink_to(outside)                 # a folder leading out
    (root / "a/in").symlink_to(root / "a/b")           # a folder staying in
    (root / "a/b/link.Dockerfile").symlink_to(outside / "d/Dockerfile")
    (root / "a/b/rel").symlink_to("../..")             # back to the root: inside
    paths = [".", "a", "a/b/Dockerfile", "out", "out/d/Dockerfile", "a/in/Dockerfile",
             "a/b/link.Dockerfile", "a/b/rel/out/d", "a/b/rel/a/b", "missing/x",
             "a/in/../../out/d", "a/b/./Dockerfile", "../outside/d", "out/d/missing"]
    many = Escapes(root)
    got = {p: many(p) for p in [*paths, *paths]}   # twice: the second from its folders' memo
    assert got == {p: escapes(root, p) for p in paths}
    assert got["out/d/Dockerfile"] == str(outside / "d/Dockerfile")
    assert got["a/in/Dockerfile"] is None and got["a/b/rel/out/d"] == str(outside / "d")
