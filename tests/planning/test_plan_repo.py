"""`buildorch plan` on real git repositories in tmp_path: what makes an image stale, and why."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import buildorch
from tests.helpers import PREFIX, buildkit_build, git, record_manifest, seed, write_files

REG = "reg.example/acme"
FILES = {
    "services.toml": f"""
[project]
registry = "{REG}"

[tiers.base]
max_parallel = 1
[tiers.services]

[base.base]
tier = "base"
dockerfile = "images/base.Dockerfile"

[base.ml]
tier = "base"
dockerfile = "images/ml.Dockerfile"

[services.stt]
tier = "services"
dockerfile = "services/stt/Dockerfile"
args = {{ BASE = "{REG}/ml:latest" }}

[services.web]
tier = "services"
dockerfile = "services/web/Dockerfile"
""",
    "images/base.Dockerfile": "# the root of it all\nFROM busybox:1.36\n"
                              "COPY requirements/base.txt /req.txt\nRUN true\n",
    "images/ml.Dockerfile": f"ARG PARENT={REG}/base:latest\nFROM ${{PARENT}}\n"
                            "COPY requirements/ml.txt /ml.txt\n",
    "services/stt/Dockerfile": "ARG BASE\nFROM ${BASE}\nCOPY services/stt/ /app/\n"
                               "COPY shared/util.py /app/util.py\n",
    "services/web/Dockerfile": f"FROM {REG}/base:latest\nCOPY services/web/*.py /app/\n",
    "services/stt/app.py": "print('stt')\n",
    "services/stt/tests/test_app.py": "def test(): pass\n",
    "services/web/main.py": "print('web')\n",
    "services/web/NOTES.md": "notes\n",
    "shared/util.py": "X = 1\n",
    "requirements/base.txt": "a==1\n",
    "requirements/ml.txt": "b==1\n",
    "docs/guide.txt": "read by no Dockerfile\n",
    ".dockerignore": "services/*/tests\n*.md\n**/*.pyc\n",
    ".gitignore": ".buildorch/\n*.log\n",
}


@pytest.fixture
def repo(make_repo: Callable[..., Path]) -> Path:
    r = make_repo(FILES)
    _record(r)
    return r


def _record(repo: Path) -> None:
    record_manifest(repo)


def _plan(repo: Path, **kw: object) -> dict[str, list[str]]:
    result = buildorch.plan(buildorch.load_config(repo / "services.toml"), **kw)  # type: ignore[arg-type]
    return {s.name: list(s.reasons) for s in result.plan.stale}


def _cli(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "buildorch", *args], cwd=repo,
                          capture_output=True, text=True)


def test_first_plan_is_everything_in_build_order(make_repo: Callable[..., Path]) -> None:
    r = make_repo(FILES)
    p = _cli(r, "plan", "--json")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert [s["name"] for s in data["stale"]] == ["base", "ml", "stt", "web"]
    assert data["stale"][0] == {"name": "base", "tier": "base",
                                "reasons": ["not in the manifest"]}
    assert data["fresh"] == []
    assert set(data) == {"stale", "fresh"}


def test_no_change_nothing_stale(repo: Path) -> None:
    assert _plan(repo) == {}
    p = _cli(repo, "plan")
    assert p.returncode == 0 and "nothing to build: 4 image(s) up to date" in p.stdout


def test_file_only_one_service_copies(repo: Path) -> None:
    (repo / "services/stt/app.py").write_text("print('changed')\n")
    assert _plan(repo) == {"stt": ["input changed: services/stt/app.py"]}


def test_file_no_dockerfile_reads(repo: Path) -> None:
    (repo / "docs/guide.txt").write_text("changed\n")
    (repo / "services/web/other.txt").write_text("web copies only *.py\n")
    assert _plan(repo) == {}


def test_file_under_a_dockerignored_path(repo: Path) -> None:
    (repo / "services/stt/tests/test_app.py").write_text("def test(): assert 0\n")
    (repo / "services/web/NOTES.md").write_text("more notes\n")
    assert _plan(repo) == {}


def test_base_dockerfile_comment_or_blank_line_changes_nothing(repo: Path) -> None:
    p = repo / "images/base.Dockerfile"
    p.write_text("# a different comment\n\n" + p.read_text().replace("RUN true", "RUN true\n\n"))
    assert _plan(repo) == {}


def test_base_instruction_change_rebuilds_it_and_all_descendants(repo: Path) -> None:
    p = repo / "images/base.Dockerfile"
    p.write_text(p.read_text().replace("RUN true", "RUN echo hi"))
    assert _plan(repo) == {
        "base": ["Dockerfile changed: images/base.Dockerfile"],
        "ml": ["parent base rebuilt"],
        "web": ["parent base rebuilt"],
        "stt": ["parent ml rebuilt"],
    }


def test_untracked_file_read_by_copy_dir(repo: Path) -> None:
    (repo / "services/stt/new_module.py").write_text("Y = 2\n")
    assert _plan(repo) == {"stt": ["input added: services/stt/new_module.py"]}


def test_git_ignored_file_is_still_sent_bydocker(repo: Path) -> None:
    (repo / "services/stt/run.log").write_text("ignored by git, not by .dockerignore\n")
    assert _plan(repo) == {"stt": ["input added: services/stt/run.log"]}


def test_deleted_file_and_executable_bit(repo: Path) -> None:
    (repo / "shared/util.py").chmod(0o755)
    (repo / "services/web/main.py").unlink()
    assert _plan(repo) == {"stt": ["input changed: shared/util.py"],
                           "web": ["input removed: services/web/main.py"]}


def test_staged_change_counts(repo: Path) -> None:
    (repo / "requirements/ml.txt").write_text("b==2\n")
    git(repo, "add", "requirements/ml.txt")
    assert _plan(repo) == {"ml": ["input changed: requirements/ml.txt"],
                           "stt": ["parent ml rebuilt"]}


def test_dockerignore_edit_matters_only_through_what_it_changes(repo: Path) -> None:
    di = repo / ".dockerignore"
    di.write_text(di.read_text() + "docs\n# comment\n")
    assert _plan(repo) == {}
    di.write_text("*.md\n")   # the tests folder is now sent, and stt copies it
    assert _plan(repo) == {"stt": ["input added: services/stt/tests/test_app.py"]}


def test_dockerfile_specific_ignore_file_wins(repo: Path) -> None:
    (repo / "services/stt/Dockerfile.dockerignore").write_text("services/stt/app.py\n")
    # The ignore file sits in the folder stt copies, so Docker sends it too.
    assert _plan(repo) == {"stt": ["input added: services/stt/Dockerfile.dockerignore",
                                   "input added: services/stt/tests/test_app.py",
                                   "input removed: services/stt/app.py"]}


def test_config_edits(repo: Path) -> None:
    toml = repo / "services.toml"
    text = toml.read_text()
    toml.write_text(text.replace("max_parallel = 1", "max_parallel = 3"))
    assert _plan(repo) == {}
    toml.write_text(text.replace('tier = "base"\ndockerfile = "images/base.Dockerfile"',
                                 'tier = "base"\ndockerfile = "images/base.Dockerfile"\n'
                                 'args = { UNUSED = "1" }'))
    assert _plan(repo) == {}, "an arg no ARG consumes changes nothing"
    toml.write_text(text.replace(f'BASE = "{REG}/ml:latest"',
                                 f'BASE = "{REG}/ml:latest", EXTRA = "1"'))
    assert _plan(repo) == {}
    ml = repo / "images/ml.Dockerfile"
    ml.write_text(ml.read_text() + "ARG PIP_INDEX\nRUN echo $PIP_INDEX\n")
    _record(repo)
    toml.write_text(text.replace('dockerfile = "images/ml.Dockerfile"',
                                 'dockerfile = "images/ml.Dockerfile"\n'
                                 'args = { PIP_INDEX = "mirror" }'))
    assert _plan(repo) == {"ml": ["config changed: args.PIP_INDEX"],
                           "stt": ["parent ml rebuilt"]}


def test_inputs_and_ignore_adjust_the_set(repo: Path) -> None:
    toml = repo / "services.toml"
    toml.write_text(toml.read_text().replace(
        'dockerfile = "services/web/Dockerfile"',
        'dockerfile = "services/web/Dockerfile"\ninputs = ["docs/*.txt"]\n'
        'ignore = ["services/web/gen_*.py"]'))
    _record(repo)
    (repo / "docs/guide.txt").write_text("now it counts\n")
    (repo / "services/web/gen_table.py").write_text("generated\n")
    assert _plan(repo) == {"web": ["input changed: docs/guide.txt"]}


def test_plan_one_image_plans_its_stale_ancestry(repo: Path) -> None:
    (repo / "requirements/base.txt").write_text("a==2\n")
    assert list(_plan(repo, images=["stt"])) == ["base", "ml", "stt"]
    p = _cli(repo, "plan", "stt", "--json")
    assert [s["name"] for s in json.loads(p.stdout)["stale"]] == ["base", "ml", "stt"]
    p = _cli(repo, "plan", "sst")
    assert p.returncode == 1
    assert p.stderr.strip() == "buildorch: error: unknown image 'sst'; did you mean 'stt'?"


def test_all_plans_everything(repo: Path) -> None:
    assert list(_plan(repo, all_images=True)) == ["base", "ml", "stt", "web"]


def test_since_ref_includes_staged_unstaged_and_untracked(repo: Path) -> None:
    git(repo, "tag", "v1")
    (repo / "services/web/main.py").write_text("print('unstaged')\n")
    (repo / "shared/util.py").write_text("X = 'staged'\n")
    git(repo, "add", "shared/util.py")
    (repo / "services/stt/extra.py").write_text("untracked\n")
    assert _plan(repo, since="v1") == {
        "web": ["input changed: services/web/main.py"],
        "stt": ["input changed: shared/util.py", "input added: services/stt/extra.py"],
    }


def test_since_across_a_rename(repo: Path) -> None:
    git(repo, "tag", "before")
    git(repo, "mv", "services/stt/app.py", "services/stt/main.py")
    git(repo, "mv", "docs/guide.txt", "docs/manual.txt")
    git(repo, "commit", "-q", "-m", "rename")
    assert _plan(repo, since="before") == {
        "stt": ["input added: services/stt/main.py", "input removed: services/stt/app.py"]}
    assert _plan(repo, since="HEAD") == {}


def test_since_a_commit_before_an_image_existed(repo: Path) -> None:
    git(repo, "tag", "v1")
    write_files(repo, {"services/api/Dockerfile": f"FROM {REG}/base:latest\n"})
    toml = repo / "services.toml"
    toml.write_text(toml.read_text() + '\n[services.api]\ntier = "services"\n'
                    'dockerfile = "services/api/Dockerfile"\n')
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "api")
    assert _plan(repo, since="v1") == {"api": ["not in v1"]}


def test_since_bad_ref_is_one_line(repo: Path) -> None:
    p = _cli(repo, "plan", "--since", "nope")
    assert p.returncode == 1 and p.stderr.count("\n") == 1
    assert p.stderr.startswith("buildorch: error: --since nope: not a commit")


def test_corrupt_or_newer_manifest_gives_full_plan_with_message(repo: Path) -> None:
    m = repo / ".buildorch/manifest.json"
    m.write_text("{oops")
    p = _cli(repo, "plan", "--json")
    assert p.returncode == 0 and "Traceback" not in p.stderr
    assert "manifest.json is corrupt" in p.stderr
    assert len(json.loads(p.stdout)["stale"]) == 4
    m.write_text('{"schema_version": 7, "images": {}}')
    p = _cli(repo, "plan")
    assert p.returncode == 0 and "written by a newer buildorch" in p.stderr


def test_without_git_hashes_from_disk(make_repo: Callable[..., Path], tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    write_files(plain, FILES)
    _record(plain)
    assert _plan(plain) == {}
    (plain / "services/web/main.py").write_text("changed\n")
    (plain / "docs/guide.txt").write_text("changed\n")
    assert _plan(plain) == {"web": ["input changed: services/web/main.py"]}


def test_inputs_json_lists_every_file_the_build_reads(repo: Path) -> None:
    p = _cli(repo, "inputs", "stt", "--json")
    assert json.loads(p.stdout) == {"image": "stt", "files": [
        "services/stt/Dockerfile", "services/stt/app.py", "shared/util.py"]}
    p = _cli(repo, "inputs", "web", "--json")
    assert json.loads(p.stdout)["files"] == ["services/web/main.py"]


def test_graph_infers_parents_three_ways(repo: Path) -> None:
    p = _cli(repo, "graph", "--format", "json")
    parents = {i["name"]: i["parents"] for i in json.loads(p.stdout)["images"]}
    # literal FROM (web), ARG default (ml), services.toml args (stt)
    assert parents == {"base": [], "ml": ["base"], "web": ["base"], "stt": ["ml"]}
    tree = _cli(repo, "graph").stdout.splitlines()
    assert tree == ["base [base]", "├── ml [base]", "│   └── stt [services]",
                    "└── web [services]"]


def test_validate_reports_every_problem(repo: Path) -> None:
    assert _cli(repo, "validate").returncode == 0
    toml = repo / "services.toml"
    toml.write_text(toml.read_text().replace('tier = "services"\ndockerfile = "services/web',
                                             'tier = "service"\ndockerfile = "services/web')
                    + '\n[services.loop-a]\ntier = "services"\ndockerfile = "a.Dockerfile"\n'
                    'depends_on = ["loop-b"]\n'
                    '[services.loop-b]\ntier = "services"\ndockerfile = "b.Dockerfile"\n'
                    'depends_on = ["loop-a"]\n'
                    '[services.broken]\ntier = "services"\ndockerfile = "c.Dockerfile"\n')
    write_files(repo, {"a.Dockerfile": "FROM scratch\n", "b.Dockerfile": "FROM scratch\n",
                       "c.Dockerfile": "FROM scratch\nCOPYY x y\n"})
    p = _cli(repo, "validate")
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert any("[services.web]: unknown tier 'service'; did you mean 'services'?" in x
               for x in lines)
    assert any("parent cycle: loop-" in x for x in lines)
    assert any("[services.broken]" in x and "line 2" in x for x in lines), lines
    assert "Traceback" not in p.stderr


def test_validate_runs_plans_dockerfile_checks(make_repo: Callable[..., Path]) -> None:
    """A COPY source missing from the context fails the build (BuildKit: not found): validate
    names the Dockerfile and the line, and exits 1. A glob matching nothing is a note, as in
    plan: exit 0."""
    files = seed("ghcr.io/acme")
    files["services/llm/Dockerfile"] += "COPY assets/*.json /assets/\n"
    repo = make_repo(files)
    p = _cli(repo, "validate")
    assert p.returncode == 0, p.stderr
    assert p.stderr.splitlines() == [
        "note: services/llm/Dockerfile: line 4: COPY source 'assets/*.json' matches no file "
        "(BuildKit copies nothing) ([services.llm])"]
    assert "services.toml is valid" in p.stdout

    with (repo / "services/waketrainer/Dockerfile").open("a") as f:
        f.write("COPY models/wake.onnx /models/\n")
    p = _cli(repo, "validate")
    assert p.returncode == 1
    assert "services/waketrainer/Dockerfile: line 4: COPY source 'models/wake.onnx' is not in " \
        "the context (BuildKit fails: not found) ([services.waketrainer])" in p.stderr.splitlines()
    assert "valid" not in p.stdout
    # plan says the same thing (as a note: it plans, the build fails)
    p = _cli(repo, "plan")
    assert "waketrainer: line 4: COPY source 'models/wake.onnx' is not in the context" in p.stderr


def test_validate_follows_a_configured_parents_onbuild_sources(
        make_repo: Callable[..., Path]) -> None:
    """A parent's ONBUILD COPY runs in the child's build, in the child's context: a source the
    child's context lacks fails that build, and validate says so, naming the trigger."""
    repo = make_repo({
        "services.toml": '[project]\nregistry = "reg.example/acme"\n[tiers.base]\n'
                         '[tiers.services]\n[base.py]\ntier = "base"\n'
                         'dockerfile = "images/py.Dockerfile"\n[services.app]\n'
                         'tier = "services"\ndockerfile = "app/Dockerfile"\ncontext = "app"\n',
        "images/py.Dockerfile": "FROM busybox:1.36\nONBUILD COPY requirements.txt /req.txt\n",
        "app/Dockerfile": "FROM reg.example/acme/py:latest\nCOPY main.py /main.py\n",
        "app/main.py": "print('app')\n",
    })
    p = _cli(repo, "validate")
    assert p.returncode == 1, (p.stdout, p.stderr)
    [line] = [x for x in p.stderr.splitlines() if "requirements.txt" in x]
    assert line == ("app/Dockerfile: py's Dockerfile line 2: ONBUILD COPY source "
                    "'requirements.txt' is not in the context (BuildKit fails: not found) "
                    "([services.app])")
    (repo / "app/requirements.txt").write_text("a==1\n")
    p = _cli(repo, "validate")
    assert p.returncode == 0, p.stderr


@pytest.mark.engine
@pytest.mark.usefixtures("engine")
@pytest.mark.parametrize("ignored", [False, True], ids=["sent", "dockerignored"])
def test_an_empty_folder_copied_is_judged_as_buildkit_judges_it(
        make_repo: Callable[..., Path], ignored: bool) -> None:
    """`COPY empty/ /e/` of a folder with no file: BuildKit copies it (no failure) unless
    .dockerignore leaves it out ("not found"). validate's exit code says the same."""
    import uuid

    from buildorch.dockerlang.sources import fails_build

    repo = make_repo({
        "services.toml": '[tiers.t]\n[services.app]\ntier = "t"\n',
        "Dockerfile": f"FROM busybox:1.36\nRUN echo {uuid.uuid4().hex}\nCOPY empty/ /e/\n",
        ".dockerignore": ".git\n.buildorch\n" + ("empty\n" if ignored else ""),
    })
    (repo / "empty").mkdir()
    notes = buildorch.plan(buildorch.load_config(repo / "services.toml")).notes
    [note] = [n for n in notes if "'empty'" in n]
    res = buildkit_build(repo, f"{PREFIX}empty-check:{uuid.uuid4().hex[:8]}")
    assert res.ok == (not ignored), res.log_tail
    assert fails_build(note) == ignored, note
    assert _cli(repo, "validate").returncode == (1 if ignored else 0)
