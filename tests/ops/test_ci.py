"""`buildorch ci matrix`, the step summary, and `export bake` as `docker buildx bake` reads it."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from buildorch.ops.ci import step_summary, write_step_summary
from buildorch.planning.plan import Plan, Stale
from buildorch.running.report import BuildReport, ImageReport
from tests.helpers import bo, git, stack

DESCENDANTS_OF_BASE = ["base", "a", "b", "c", "svc-a", "svc-b"]


@pytest.fixture
def changed_base(make_repo: Callable[..., Path]) -> Path:
    """The stack with one commit on top that changes only the foundation image's input."""
    repo = make_repo(stack(uuid.uuid4().hex[:10]))
    (repo / "base.txt").write_text("base, changed\n")
    git(repo, "commit", "-q", "-am", "change base")
    return repo


def test_matrix_lists_exactly_the_changed_base_and_its_descendants(changed_base: Path) -> None:
    p = bo(changed_base, "ci", "matrix", "--since", "HEAD~1")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert list(data) == ["include"]
    names = [e["name"] for e in data["include"]]
    assert sorted(names) == sorted(DESCENDANTS_OF_BASE)
    assert names.index("base") == 0
    assert names.index("a") < names.index("svc-a") and names.index("b") < names.index("svc-b")
    by_name = {e["name"]: e for e in data["include"]}
    tags = by_name["base"].pop("tags")
    assert by_name["base"] == {"name": "base", "tier": "foundation",
                               "dockerfile": "images/base.Dockerfile", "context": "."}
    assert len(tags) == 1 and tags[0].endswith("/base:latest")   # every tag it is pushed as
    assert by_name["svc-a"]["tier"] == "services"
    assert by_name["svc-a"]["dockerfile"] == "services/svc-a/Dockerfile"


def test_matrix_grouped_by_tier_in_tier_order(changed_base: Path) -> None:
    p = bo(changed_base, "ci", "matrix", "--since", "HEAD~1", "--tier")
    assert p.returncode == 0, p.stderr
    tiers = json.loads(p.stdout)["tiers"]
    assert [t["tier"] for t in tiers] == ["foundation", "tier-1", "services"]
    assert [[e["name"] for e in t["include"]] for t in tiers] == [
        ["base"], ["a", "b", "c"], ["svc-a", "svc-b"]]
    assert all(e["tier"] == t["tier"] for t in tiers for e in t["include"])


def test_matrix_nothing_stale_is_an_empty_include(changed_base: Path) -> None:
    p = bo(changed_base, "ci", "matrix", "--since", "HEAD")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"include": []}


def test_matrix_appended_to_github_output(changed_base: Path, tmp_path: Path) -> None:
    out = tmp_path / "github_output"
    out.write_text("earlier=1\n")
    p = bo(changed_base, "ci", "matrix", "--since", "HEAD~1", env={"GITHUB_OUTPUT": str(out)})
    assert p.returncode == 0, p.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == "earlier=1"
    assert len(lines) == 2 and lines[1].startswith("matrix=")
    assert json.loads(lines[1].removeprefix("matrix=")) == json.loads(p.stdout)


def _report() -> BuildReport:
    plan = Plan(stale=(Stale("base", "foundation", ("Dockerfile changed",)),
                       Stale("svc|x", "services", ("parent base rebuilt",))),
                fresh=("lone",), baseline="HEAD~1")
    report = BuildReport(plan, ())
    report.images["base"] = ImageReport("base", "built", 12.34, steps=4, cached_steps=3)
    report.images["svc|x"] = ImageReport("svc|x", "failed", 1.0, steps=2, cached_steps=0,
                                         reason="RUN exit 1\nsecond line")
    report.images["lone"] = ImageReport("lone", "up-to-date")
    report.wall_s = 13.5
    return report


def test_step_summary_is_a_markdown_table_of_the_report() -> None:
    text = step_summary(_report())
    lines = text.splitlines()
    assert lines[0] == "| image | tier | result | duration | cached/steps | reason |"
    assert lines[1].startswith("|---")
    assert lines[2] == "| base | foundation | built | 12.3s | 3/4 |  |"
    # pipes and newlines in cells would break the table
    assert lines[3] == "| svc\\|x | services | failed | 1.0s | 0/2 | RUN exit 1 second line |"
    assert lines[4] == "| lone |  | up-to-date | - | - |  |"
    assert lines[-1] == "1 built, 1 up-to-date, 1 failed in 13.5s"


def test_write_step_summary_appends_only_when_set(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert write_step_summary(_report()) is None
    target = tmp_path / "summary.md"
    target.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(target))
    assert write_step_summary(_report()) == target
    text = target.read_text()
    assert text.startswith("# earlier step\n| image |")
    assert step_summary(_report()) in text


@pytest.mark.usefixtures("engine")
def test_bake_export_is_accepted_by_buildx_bake_print(changed_base: Path) -> None:
    p = bo(changed_base, "export", "bake")
    assert p.returncode == 0, p.stderr
    bake = subprocess.run(["docker", "buildx", "bake", "--print", "-f", "docker-bake.json"],
                          cwd=changed_base, capture_output=True, text=True, timeout=60)
    assert bake.returncode == 0, bake.stderr
    printed = json.loads(bake.stdout)
    expected = ["a", "b", "base", "c", "lone", "svc-a", "svc-b"]
    assert sorted(printed["target"]) == expected
    assert sorted(printed["group"]["default"]["targets"]) == expected
    assert printed["target"]["svc-a"]["contexts"] == {
        next(iter(printed["target"]["a"]["tags"])): "target:a"}
