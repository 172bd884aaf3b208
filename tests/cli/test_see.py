"""The commands that show a run: `timings` (and the pages `build --timings` keeps), `graph
--format mermaid`, `stats --html`. No engine: the runs are made-up event streams."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from buildorch.cli.timings import KEEP, write
from tests.cli.conftest import Result
from tests.helpers import stack
from tests.render.browser import loaded
from tests.render.streams import diamond_run


@pytest.fixture
def repo(make_repo: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    path = make_repo(stack(uuid.uuid4().hex[:8]))
    monkeypatch.chdir(path)
    return path


def test_timings_prints_the_newest_page_or_the_named_run(
        repo: Path, bo_in_process: Callable[..., Result]) -> None:
    none = bo_in_process("timings")
    assert none.code == 1 and "no timings page in" in none.err
    assert "buildorch build --timings" in none.err and "Traceback" not in none.err
    state = repo / ".buildorch"
    first = write(state, diamond_run(), "20261201-100000-001", timings="", trace=None)
    second = write(state, diamond_run(), "20261202-100000-002", timings="", trace=None)
    assert bo_in_process("timings").out.strip() == str(second[0])
    assert bo_in_process("timings", "20261201").out.strip() == str(first[0])
    missing = bo_in_process("timings", "1999")
    assert missing.code == 1 and "no timings page for run 1999 in" in missing.err


def test_the_default_pages_keep_the_last_twenty(repo: Path) -> None:
    folder = repo / ".buildorch" / "timings"
    folder.mkdir(parents=True)
    for i in range(KEEP + 5):
        (folder / f"20260101-0000{i:02d}-000.html").write_text("old")
    mine = repo / "mine.html"
    write(repo / ".buildorch", diamond_run(), "20261206-120000-000", timings=str(mine),
          trace=None)
    assert len(list(folder.glob("*.html"))) == KEEP + 5   # a page of one's own prunes nothing
    [page] = write(repo / ".buildorch", diamond_run(), "20261206-120000-000", timings="",
                   trace=None)
    kept = sorted(p.name for p in folder.glob("*.html"))
    assert len(kept) == KEEP and kept[-1] == page.name == "20261206-120000-000.html"
    assert kept[0] == "20260101-000006-000.html"    # the oldest six went
    assert "buildorch run 20261206-120000-000" in page.read_text()


def test_graph_as_mermaid_and_stale_needs_it(
        repo: Path, bo_in_process: Callable[..., Result]) -> None:
    res = bo_in_process("graph", "--format", "mermaid")
    assert res.code == 0, res.err
    assert res.out.startswith("flowchart LR\n")
    assert re.findall(r'subgraph \w+\["([^"]+)"\]', res.out) == ["foundation", "tier-1",
                                                                  "services"]
    assert "  base --> a\n" in res.out and "  a --> svc_a\n" in res.out
    stale = bo_in_process("graph", "--format", "mermaid", "--stale")
    assert stale.code == 0, stale.err
    # nothing built yet: all seven stale
    assert "class base,a,b,c,lone,svc_a,svc_b stale" in stale.out
    wrong = bo_in_process("graph", "--stale")
    assert wrong.code == 1 and "add --format mermaid" in wrong.err


def test_stats_html_is_one_page_of_the_timings_renderer(
        repo: Path, bo_in_process: Callable[..., Result]) -> None:
    state = repo / ".buildorch"
    state.mkdir(exist_ok=True)
    lines = [{"run": f"r{r}", "image": n, "tier": t, "start": 100.0 * r + s,
              "duration_s": d + r, "result": "built"}
             for r in range(3) for n, t, s, d in (("base", "foundation", 0, 2),
                                                   ("a", "tier-1", 2, 3))]
    (state / "history.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    res = bo_in_process("stats", "--html", str(repo / "stats.html"))
    assert res.code == 0, res.err
    html = (repo / "stats.html").read_text()
    assert "Build time per tier, last 3 runs" in html
    assert html.count('<path class="line') == 2   # one line per tier
    with loaded(repo / "stats.html") as page:
        assert page.evaluate("document.querySelectorAll('path.line').length") == 2
        assert page.evaluate("document.querySelectorAll('table').length") == 5
        assert page.console_errors == []
        assert all(u.startswith("file:") for u in page.requests)
