"""`buildorch init` on repositories in the layouts real projects use: init, then `graph` gives
the expected tree, and an edit to a base Dockerfile plans the base and all its descendants.

No engine: `plan --since HEAD` compares the edited tree with the committed one.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from buildorch.config import load
from buildorch.ops import compose
from tests.helpers import bo, git, seed

REG = "ghcr.io/acme"

# The seed's layout: base images at services/base/Dockerfile.<name>, published as
# ghcr.io/<owner>/<name>:latest; services at services/<svc>/Dockerfile copying repository
# paths; a compose file that builds only the services.
SEED = {
    "services/base/Dockerfile.python-base": "FROM busybox:1.36\n"
                                            "COPY requirements/base.txt /req/\n",
    "services/base/Dockerfile.python-ml": f"FROM {REG}/python-base:latest\n"
                                          "COPY requirements/ml.txt /req/\n",
    "services/base/Dockerfile.python-ml-audio": "ARG REGISTRY=ghcr.io/acme\n"
                                                "FROM ${REGISTRY}/python-ml:latest\n"
                                                "RUN echo audio\n",
    "services/base/Dockerfile.python-audio": f"FROM {REG}/python-base:latest\n",
    "services/stt/Dockerfile": f"ARG BASE_IMAGE={REG}/python-ml-audio:latest\n"
                               "FROM ${BASE_IMAGE}\nCOPY services/stt/ /app/\n",
    "services/stt/app.py": "print('stt')\n",
    "services/stt/tests/Dockerfile": "FROM busybox:1.36\nCOPY . /t\n",
    "services/llm/Dockerfile": f"FROM {REG}/python-ml:latest\nCOPY services/llm/app.py /app/\n",
    "services/llm/app.py": "print('llm')\n",
    "services/discord/Dockerfile": f"FROM {REG}/python-audio:latest\n"
                                   "COPY services/discord/ /app/\n",
    "services/discord/bot.py": "print('bot')\n",
    "requirements/base.txt": "requests\n",
    "requirements/ml.txt": "numpy\n",
    "docker-compose.yml": "services:\n"
                          + "".join(f"  {s}:\n    build:\n      context: .\n"
                                    f"      dockerfile: services/{s}/Dockerfile\n"
                                    f"    image: {REG}/{s}:latest\n"
                                    for s in ("stt", "llm", "discord"))
                          + "  redis:\n    image: redis:7\n",
}
SEED_TREE = """\
python-base [foundation]
├── python-audio [tier-1]
│   └── discord [services]
└── python-ml [tier-1]
    ├── python-ml-audio [tier-2]
    │   └── stt [services]
    └── llm [services]"""

# docker-stacks: images/<name>/Dockerfile with its context in its own folder, ARG REGISTRY,
# ARG OWNER and ARG BASE_IMAGE=$REGISTRY/$OWNER/<parent>, FROM $BASE_IMAGE; the root FROM an
# external ubuntu image.


def _stacks_child(parent: str, extra: str = "") -> str:
    return ("ARG REGISTRY=quay.io\nARG OWNER=jupyter\n"
            f"ARG BASE_IMAGE=$REGISTRY/$OWNER/{parent}\nFROM $BASE_IMAGE\n{extra}")


STACKS = {
    "images/docker-stacks-foundation/Dockerfile":
        "ARG ROOT_IMAGE=ubuntu:24.04\nFROM $ROOT_IMAGE\nCOPY fix-permissions /usr/bin/\n",
    "images/docker-stacks-foundation/fix-permissions": "#!/bin/sh\n",
    "images/base-notebook/Dockerfile": _stacks_child("docker-stacks-foundation",
                                                     "COPY start-notebook.py /usr/bin/\n"),
    "images/base-notebook/start-notebook.py": "print()\n",
    "images/minimal-notebook/Dockerfile": _stacks_child("base-notebook",
                                                        "COPY setup-scripts/ /opt/setup/\n"),
    "images/minimal-notebook/setup-scripts/setup.sh": "echo\n",
    "images/scipy-notebook/Dockerfile": _stacks_child("minimal-notebook"),
    "images/r-notebook/Dockerfile": _stacks_child("minimal-notebook"),
    "images/datascience-notebook/Dockerfile": _stacks_child("scipy-notebook"),
    "images/pyspark-notebook/Dockerfile": _stacks_child("scipy-notebook",
                                                        "COPY ipython_kernel_config.py /etc/\n"),
    "images/pyspark-notebook/ipython_kernel_config.py": "c = 1\n",
    "images/all-spark-notebook/Dockerfile": _stacks_child("pyspark-notebook"),
    "tests/by_image/base-notebook/Dockerfile": "FROM busybox:1.36\n",
}
STACKS_TREE = """\
docker-stacks-foundation [foundation]
└── base-notebook [tier-1]
    └── minimal-notebook [tier-2]
        ├── scipy-notebook [tier-3]
        │   ├── pyspark-notebook [tier-4]
        │   │   └── all-spark-notebook [services]
        │   └── datascience-notebook [services]
        └── r-notebook [services]"""

# A bake file names the targets; bake resolves variables and inherits, buildorch never reads
# the HCL.
BAKE = {
    "docker-bake.hcl": """\
variable "REGISTRY" { default = "registry.example/team" }
target "_common" { args = { PYTHON = "3.12" } }
group "default" { targets = ["runtime", "api", "worker"] }
target "runtime" {
  inherits = ["_common"]
  context = "docker/runtime"
  tags = ["${REGISTRY}/runtime:2.0"]
}
target "api" {
  context = "."
  dockerfile = "apps/api.Dockerfile"
  args = { BASE = "${REGISTRY}/runtime:2.0" }
  tags = ["${REGISTRY}/api:2.0"]
}
target "worker" {
  context = "apps/worker"
  tags = ["${REGISTRY}/worker:2.0"]
}
""",
    "docker/runtime/Dockerfile": "FROM busybox:1.36\nARG PYTHON\nCOPY rootfs/ /\n",
    "docker/runtime/rootfs/etc/motd": "hi\n",
    "apps/api.Dockerfile": "ARG BASE\nFROM $BASE\nCOPY apps/api/ /srv/\n",
    "apps/api/main.py": "print('api')\n",
    "apps/worker/Dockerfile": "FROM registry.example/team/runtime:2.0\nCOPY . /srv/\n",
    "apps/worker/run.py": "print('w')\n",
}
BAKE_TREE = """\
runtime [foundation]
├── api [services]
└── worker [services]"""

# A compose file as people write them: anchors, merge keys, flow mappings, interpolation from
# .env and the environment, an override file, Dockerfiles beside their context.
COMPOSE = {
    "compose.yaml": """\
x-build: &build
  context: ./base
  args: {PYTHON: "${PYTHON_VERSION:-3.11}"}
x-service: &service
  restart: unless-stopped
services:
  base:
    build: *build
    image: ${REGISTRY:?set REGISTRY in .env}/base:${TAG:-dev}
  web:
    <<: *service
    build: {context: web, args: {BASE: "${REGISTRY}/base:${TAG:-dev}"}}
    image: "${REGISTRY}/web:${TAG:-dev}"
  worker:
    <<: *service
    build:
      context: worker
      dockerfile: worker.Dockerfile
    image: ${REGISTRY}/worker:${TAG:-dev}
  db:
    image: postgres:16
""",
    "compose.override.yaml": "services:\n  web:\n    build:\n      target: final\n",
    ".env": "# the registry\nREGISTRY=registry.example/shop\nexport TAG='1.4'\n",
    "base/Dockerfile": "FROM busybox:1.36\nARG PYTHON\nCOPY base.txt /base.txt\n",
    "base/base.txt": "b\n",
    "web/Dockerfile": "ARG BASE\nFROM $BASE AS final\nCOPY index.html /srv/\n",
    "web/index.html": "<p>\n",
    "worker/worker.Dockerfile": "FROM registry.example/shop/base:1.4\nCOPY run.sh /run.sh\n",
    "worker/run.sh": "echo\n",
}
COMPOSE_TREE = """\
base [foundation]
├── web [services]
└── worker [services]"""

LAYOUTS = {
    "seed": (SEED, SEED_TREE, "services/base/Dockerfile.python-base",
             {"python-base", "python-ml", "python-audio", "python-ml-audio", "stt", "llm",
              "discord"}),
    "docker-stacks": (STACKS, STACKS_TREE, "images/base-notebook/Dockerfile",
                      {"base-notebook", "minimal-notebook", "scipy-notebook", "r-notebook",
                       "datascience-notebook", "pyspark-notebook", "all-spark-notebook"}),
    "bake": (BAKE, BAKE_TREE, "docker/runtime/Dockerfile", {"runtime", "api", "worker"}),
    "compose": (COMPOSE, COMPOSE_TREE, "base/Dockerfile", {"base", "web", "worker"}),
}


@pytest.mark.parametrize("layout", [pytest.param(k, marks=pytest.mark.engine) if k == "bake"
                                    else k for k in LAYOUTS])
def test_init_then_graph_then_a_base_edit_plans_all_descendants(
        make_repo: Callable[..., Path], layout: str, request: pytest.FixtureRequest) -> None:
    if layout == "bake":   # `docker buildx bake --print` reads the bake file
        request.getfixturevalue("engine")
    files, tree, base, rebuilt = LAYOUTS[layout]
    repo = make_repo(files)
    init = bo(repo, "init")
    assert init.returncode == 0, init.stderr
    assert "Traceback" not in init.stderr
    graph = bo(repo, "graph")
    assert graph.returncode == 0, graph.stderr
    assert graph.stdout.strip() == tree
    git(repo, "add", "services.toml")
    git(repo, "commit", "-qm", "init")
    dockerfile = repo / base
    dockerfile.write_text(dockerfile.read_text() + "RUN echo edited\n")
    plan = bo(repo, "plan", "--since", "HEAD", "--json")
    assert plan.returncode == 0, plan.stderr
    stale = {s["name"] for s in json.loads(plan.stdout)["stale"]}
    assert stale == rebuilt


def test_seed_layout_file(make_repo: Callable[..., Path]) -> None:
    repo = make_repo(SEED)
    proc = bo(repo, "init")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == (
        "wrote services.toml: 7 image(s), 4 base image(s), registry ghcr.io/acme, from "
        "8 Dockerfile(s), docker-compose.yml")
    assert "docker-compose.yml: 1 service(s) without build: left out: redis" in proc.stderr
    text = (repo / "services.toml").read_text()
    cfg = load(repo / "services.toml")
    assert (cfg.registry, cfg.tag) == (REG, "latest")
    assert {n: (i.kind, i.tier, i.context) for n, i in cfg.images.items()} == {
        "python-base": ("base", "foundation", "."),      # COPY requirements/... from the root
        "python-audio": ("base", "tier-1", "services/base"),   # copies nothing: its folder
        "python-ml": ("base", "tier-1", "."),
        "python-ml-audio": ("base", "tier-2", "services/base"),
        "stt": ("service", "services", "."), "llm": ("service", "services", "."),
        "discord": ("service", "services", ".")}
    # every entry says where its name, context and parents came from
    assert ("# python-ml-audio: name from services/base/Dockerfile.python-ml-audio "
            "(Dockerfile.<name>); context services/base (no COPY/ADD names a path: its own "
            "folder); parents python-ml (FROM ghcr.io/acme/python-ml:latest)") in text
    assert ("# stt: name from the image of compose service stt (docker-compose.yml); context "
            ". (compose service's context); parents python-ml-audio (FROM "
            "ghcr.io/acme/python-ml-audio:latest)") in text
    assert ("# python-base: name from services/base/Dockerfile.python-base (Dockerfile.<name>);"
            " context . (COPY requirements/base.txt resolves from the repository root); "
            "no parent built here (FROM busybox:1.36)") in text
    # what it cannot place is written, commented out, with the reason
    assert ("# services/stt/tests/Dockerfile: under a tests/ folder: looks test-only\n"
            "# [services.stt-tests]\n# dockerfile = \"services/stt/tests/Dockerfile\"\n") in text


def _seed_with_testing() -> dict[str, str]:
    """The seed's shape: `testing` is built by compose, has ports, and its env file is
    gitignored, so a fresh clone does not have it."""
    files = dict(SEED)
    files["services/testing/Dockerfile"] = (f"FROM {REG}/python-ml:latest\n"
                                            "COPY services/testing/ /app/\n")
    files["services/testing/run.py"] = "print('t')\n"
    files[".gitignore"] = ".env.common\n"
    files["docker-compose.yml"] += (
        "  testing:\n    build:\n      context: .\n"
        "      dockerfile: services/testing/Dockerfile\n"
        f"    image: {REG}/testing:latest\n    env_file: ./.env.common\n"
        "    ports:\n      - \"8000:8000\"\n")
    return files


@pytest.mark.parametrize("plugin", [True, False], ids=["docker compose config", "PyYAML"])
def test_compose_with_a_missing_env_file_is_read_by_either_reader(
        plugin: bool, make_repo: Callable[..., Path]) -> None:
    if plugin and not compose.plugin_available():
        pytest.skip("the docker compose plugin is not installed")
    repo = make_repo(_seed_with_testing())
    entries, notes = compose.read([repo / "docker-compose.yml"], {}, use_plugin=plugin)
    [testing] = [e for e in entries if e.key == "testing"]
    assert testing.dockerfile == repo / "services/testing/Dockerfile"
    assert {e.key for e in entries} == {"stt", "llm", "discord", "testing"}
    assert any(".env.common not found (docker compose config refuses it): read without it"
               in n for n in notes) == plugin, notes
    assert not (repo / ".env.common").exists()


def test_a_compose_service_with_a_missing_env_file_is_an_image_never_test_only(
        make_repo: Callable[..., Path]) -> None:
    repo = make_repo(_seed_with_testing())
    proc = bo(repo, "init")
    assert proc.returncode == 0, proc.stderr
    cfg = load(repo / "services.toml")
    assert cfg.images["testing"].kind == "service"
    text = (repo / "services.toml").read_text()
    assert ("# testing: name from the image of compose service testing (docker-compose.yml); "
            "context . (compose service's context); parents python-ml (FROM "
            "ghcr.io/acme/python-ml:latest)") in text
    assert "services/testing/Dockerfile: under a testing/" not in text
    # nothing written into the tree but services.toml
    assert git(repo, "status", "--porcelain").split() == ["??", "services.toml"]


def test_stacks_contexts_are_the_image_folders(make_repo: Callable[..., Path]) -> None:
    repo = make_repo(STACKS)
    assert bo(repo, "init").returncode == 0
    cfg = load(repo / "services.toml")
    assert cfg.registry == "quay.io/jupyter"
    assert cfg.images["base-notebook"].context == "images/base-notebook"
    assert cfg.images["minimal-notebook"].context == "images/minimal-notebook"
    assert cfg.images["pyspark-notebook"].context == "images/pyspark-notebook"
    text = (repo / "services.toml").read_text()
    assert "context images/base-notebook (COPY start-notebook.py resolves from beside the " \
           "Dockerfile)" in text
    assert "# tests/by_image/base-notebook/Dockerfile: under a tests/ folder: looks test-only" \
        in text


def test_compose_with_anchors_merge_keys_and_interpolation(
        make_repo: Callable[..., Path]) -> None:
    repo = make_repo(COMPOSE)
    proc = bo(repo, "init", env={"TAG": "2.0"})   # the environment wins over .env
    assert proc.returncode == 0, proc.stderr
    cfg = load(repo / "services.toml")
    assert (cfg.registry, cfg.tag) == ("registry.example/shop", "2.0")
    base, web, worker = (cfg.images[n] for n in ("base", "web", "worker"))
    assert (base.context, dict(base.args)) == ("base", {"PYTHON": "3.11"})
    assert (web.context, web.target, dict(web.args)) == (
        "web", "final", {"BASE": "registry.example/shop/base:2.0"})
    assert worker.dockerfile == "worker/worker.Dockerfile"


def test_compose_required_variable_missing_is_one_line(make_repo: Callable[..., Path]) -> None:
    files = {k: v for k, v in COMPOSE.items() if k != ".env"}
    repo = make_repo(files)
    proc = bo(repo, "init", "--from-compose", "compose.yaml")
    assert proc.returncode == 1
    # one line, whichever reader ran (`docker compose config` or PyYAML), naming the variable
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("buildorch: error: compose.yaml: "), line
    assert "required variable REGISTRY is missing a value" in line, line


def test_from_compose_in_a_subfolder_places_its_bases_too(
        make_repo: Callable[..., Path]) -> None:
    files = {k: v for k, v in SEED.items() if k != "docker-compose.yml"}
    files["examples/compose/app.yml"] = (
        "services:\n  stt:\n    build:\n      context: ../..\n"
        "      dockerfile: services/stt/Dockerfile\n    image: ghcr.io/acme/stt:latest\n")
    repo = make_repo(files)
    proc = bo(repo, "init", "--from-compose", "examples/compose/app.yml")
    assert proc.returncode == 0, proc.stderr
    cfg = load(repo / "services.toml")
    # stt and what it builds FROM; the others are written commented out, never dropped
    assert set(cfg.images) == {"stt", "python-ml-audio", "python-ml", "python-base"}
    assert cfg.images["stt"].context == "."
    text = (repo / "services.toml").read_text()
    assert "# services/llm/Dockerfile: not built FROM by examples/compose/app.yml's images " \
           "(plain `buildorch init` places it)" in text


def test_refuses_to_overwrite_without_force_and_dry_run_prints(
        make_repo: Callable[..., Path]) -> None:
    repo = make_repo({**SEED, "services.toml": "# mine\n"})
    proc = bo(repo, "init")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"buildorch: error: {repo / 'services.toml'} already exists; pass --force to "
        "overwrite it (or --output OTHER.toml, or --dry-run to see it)"]
    dry = bo(repo, "init", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert tomllib.loads(dry.stdout)["project"]["registry"] == REG
    assert (repo / "services.toml").read_text() == "# mine\n"
    forced = bo(repo, "init", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "[base.python-base]" in (repo / "services.toml").read_text()


def test_output_elsewhere_keeps_paths_right(make_repo: Callable[..., Path]) -> None:
    repo = make_repo(SEED)
    proc = bo(repo, "init", "-o", "ci/services.toml")
    assert proc.returncode == 0, proc.stderr
    cfg = load(repo / "ci" / "services.toml")
    assert cfg.images["stt"].dockerfile == "services/stt/Dockerfile"
    assert cfg.images["stt"].context == "."
    assert bo(repo, "--config", "ci/services.toml", "plan").returncode == 0


def test_without_git_the_files_on_disk_count(tmp_path: Path) -> None:
    repo = tmp_path / "plain"
    for rel, text in STACKS.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    (repo / "node_modules/x/Dockerfile").parent.mkdir(parents=True)
    (repo / "node_modules/x/Dockerfile").write_text("FROM busybox:1.36\n")
    proc = bo(repo, "init")
    assert proc.returncode == 0, proc.stderr
    assert bo(repo, "graph").stdout.strip() == STACKS_TREE


def test_astral_characters_round_trip(make_repo: Callable[..., Path]) -> None:
    repo = make_repo({"app/Dockerfile": "FROM busybox:1.36\n",
                      "compose.yml": "services:\n  app:\n    build:\n      context: app\n"
                                     "      args: {GREETING: \"hi 🐳\"}\n"})
    assert bo(repo, "init").returncode == 0
    assert dict(load(repo / "services.toml").images["app"].args) == {"GREETING": "hi 🐳"}


def test_nothing_to_place_is_one_line(make_repo: Callable[..., Path]) -> None:
    repo = make_repo({"README.md": "hi\n"})
    proc = bo(repo, "init")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"buildorch: error: found no Dockerfile to place in {repo}; write services.toml by "
        'hand: [services.NAME] with dockerfile = "PATH"']


def test_a_base_left_out_of_services_toml_is_named_by_validate_plan_and_build(
        make_repo: Callable[..., Path], engine: None) -> None:
    repo = make_repo(SEED)
    assert bo(repo, "init").returncode == 0
    toml = repo / "services.toml"
    text = toml.read_text()
    start = text.index("# python-ml-audio:")
    toml.write_text(text[:start] + text[text.index("# discord:"):])
    line = ("python-ml-audio is built here from services/base/Dockerfile.python-ml-audio but "
            "is not in services.toml: add [base.python-ml-audio] (or `buildorch init "
            "--force`); stt builds FROM it")
    validate = bo(repo, "validate")
    assert validate.returncode == 1
    assert validate.stderr.strip().splitlines() == [f"services.toml: {line}"]
    plan = bo(repo, "plan")
    assert plan.returncode == 0 and plan.stderr.strip().splitlines() == [f"note: {line}"]
    build = bo(repo, "build", "--dry-run", "--progress", "plain")
    assert f"note: {line}" in build.stderr.splitlines()
    # configured again: silent
    toml.write_text(text)
    assert bo(repo, "validate").returncode == 0
    assert bo(repo, "plan").stderr == ""


def test_a_bake_file_without_a_default_group(make_repo: Callable[..., Path], engine: None
                                             ) -> None:
    files = {**BAKE, "docker-bake.hcl": BAKE["docker-bake.hcl"].replace(
        'group "default" { targets = ["runtime", "api", "worker"] }\n', "")}
    repo = make_repo(files)
    proc = bo(repo, "init")
    assert proc.returncode == 0, proc.stderr
    assert bo(repo, "graph").stdout.strip() == BAKE_TREE
    cfg = load(repo / "services.toml")
    assert (cfg.registry, cfg.tag) == ("registry.example/team", "2.0")
    assert dict(cfg.images["runtime"].args) == {"PYTHON": "3.12"}   # inherited from _common
    assert "_common" not in cfg.images    # no context of its own: bake resolves it


def test_output_outside_the_repository_is_one_line(make_repo: Callable[..., Path],
                                                    tmp_path: Path) -> None:
    repo = make_repo(SEED)
    proc = bo(repo, "init", "-o", str(tmp_path / "elsewhere.toml"))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"buildorch: error: {tmp_path / 'elsewhere.toml'} is outside the repository {repo}; "
        "write services.toml inside it (its paths are relative to it)"]


def test_named_contexts_from_compose_and_bake_reach_services_toml_and_back(
        make_repo: Callable[..., Path]) -> None:
    """Compose `additional_contexts` and bake `contexts` become `contexts` (folders relative
    to services.toml, `service:`/`target:` as the configured image); `export bake` writes them
    back and the plan follows an edit in the named folder."""
    repo = make_repo({
        "compose.yaml": """\
services:
  base:
    build: {context: base}
    image: registry.example/shop/base:1
  app:
    build:
      context: .
      dockerfile: app/Dockerfile
      additional_contexts:
        shared: ./shared
        root: service:base
        tools: docker-image://busybox:1.36
        remote: https://example.invalid/x.git
    image: registry.example/shop/app:1
""",
        "base/Dockerfile": "FROM busybox:1.36\n",
        "app/Dockerfile": "FROM root\nCOPY --from=shared lib.txt /lib.txt\n",
        "shared/lib.txt": "l\n", "shared/other.txt": "o\n",
    })
    init = bo(repo, "init")
    assert init.returncode == 0, init.stderr
    data = tomllib.loads((repo / "services.toml").read_text())
    app = data["services"]["app"]
    assert app["contexts"] == {"shared": "shared", "root": "target:base",
                               "tools": "docker-image://busybox:1.36"}
    assert "remote" in init.stderr + init.stdout
    graph = bo(repo, "graph")
    assert "base [foundation]\n└── app [services]" in graph.stdout, graph.stdout
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    (repo / "shared/lib.txt").write_text("edited\n")
    (repo / "shared/other.txt").write_text("edited\n")
    plan = json.loads(bo(repo, "plan", "--since", "HEAD", "--json").stdout)
    assert plan["stale"] == [{"name": "app", "tier": "services", "reasons": [
        "input changed: shared/lib.txt (COPY --from=shared, line 2)"]}]
    assert bo(repo, "export", "bake").returncode == 0
    bake = json.loads((repo / "docker-bake.json").read_text())["target"]["app"]["contexts"]
    assert bake["shared"] == str(repo / "shared")
    assert bake["root"] == "target:base" and bake["tools"] == "docker-image://busybox:1.36"


@pytest.mark.usefixtures("engine")
def test_bake_contexts_become_services_toml_contexts(make_repo: Callable[..., Path]) -> None:
    repo = make_repo({
        "docker-bake.hcl": """\
group "default" { targets = ["base", "app"] }
target "base" {
  context = "base"
  tags = ["registry.example/team/base:2"]
}
target "app" {
  context = "app"
  contexts = { shared = "shared", root = "target:base" }
  tags = ["registry.example/team/app:2"]
}
""",
        "base/Dockerfile": "FROM busybox:1.36\n",
        "app/Dockerfile": "FROM root\nCOPY --from=shared lib.txt /lib.txt\n",
        "shared/lib.txt": "l\n",
    })
    init = bo(repo, "init")
    assert init.returncode == 0, init.stderr
    app = tomllib.loads((repo / "services.toml").read_text())["services"]["app"]
    assert app["contexts"] == {"shared": "shared", "root": "target:base"}


def test_init_says_nothing_of_the_state_folder_unless_git_would_keep_it(
        make_repo: Callable[..., Path]) -> None:
    repo = make_repo({**SEED, ".gitignore": "!.buildorch\n"})
    p = bo(repo, "init", "--dry-run")
    assert p.returncode == 0 and ".buildorch" not in p.stderr, p.stderr

    # State committed by an earlier tool (or by hand): git keeps tracking it whatever ignores.
    (repo / ".buildorch").mkdir()
    (repo / ".buildorch/manifest.json").write_text("{}\n")
    git(repo, "add", "-f", ".buildorch/manifest.json")
    git(repo, "commit", "-q", "-m", "state")
    p = bo(repo, "init", "--dry-run")
    notes = [line for line in p.stderr.splitlines() if ".buildorch" in line]
    assert notes == ["note: git tracks 1 file(s) under .buildorch/, where buildorch keeps its "
                     "local state: `git rm -r --cached .buildorch` (and commit) so that git "
                     "ignores them"], p.stderr

    git(repo, "rm", "-q", "-r", "--cached", ".buildorch")
    git(repo, "commit", "-q", "-m", "untrack the state")
    (repo / ".buildorch/.gitignore").write_text("# ours\n")   # a user's own, ignoring nothing
    p = bo(repo, "init", "--dry-run")
    notes = [line for line in p.stderr.splitlines() if ".buildorch" in line]
    assert len(notes) == 1 and ".buildorch/.gitignore does not ignore" in notes[0], p.stderr


def test_seed_first_hour_bases_without_children_notes_once_no_own_args(
        make_repo: Callable[..., Path]) -> None:
    """The seed as it is: bases in services/base/ that nothing builds FROM yet, a test compose
    file extending the main one, compose args carrying BUILDKIT_INLINE_CACHE=1."""
    files = seed(REG)
    del files["services.toml"]
    files["services/base/Dockerfile.python-ml-torch"] = f"FROM {REG}/python-ml:latest\n"
    files["Dockerfile.runtime-common"] = "FROM busybox:1.36\n"      # a parent's name
    files["Dockerfile.worker"] = "FROM busybox:1.36\n"              # a service's
    repo = make_repo(files)
    p = bo(repo, "init")
    assert p.returncode == 0, p.stderr
    data = tomllib.loads((repo / "services.toml").read_text())
    assert data["base"]["python-ml-torch"]["tier"] == "tier-2"
    assert data["base"]["runtime-common"]["tier"] == "foundation"
    assert "worker" in data["services"] and "waketrainer" in data["services"]
    assert "under a base/ folder" in (repo / "services.toml").read_text()
    assert "BUILDKIT_INLINE_CACHE" not in (repo / "services.toml").read_text()
    assert p.stderr.splitlines() == [
        "note: docker-compose.yml: services discord, llm, stt, waketrainer: cache_from left "
        "out: [cache] in services.toml says where every image's cache comes from (registry, "
        "local, gha)",
        "note: docker-compose.test.yml: services llm-test, stt-test build the Dockerfile(s) of "
        "other entries (compose `extends`, or a copy): one image each"]
