"""`graph --format mermaid`: tiers as subgraphs, FROM and depends_on edges, stale coloured."""

from __future__ import annotations

import json
import re
from pathlib import Path

from buildorch.render.mermaid import flowchart, node_id
from tests.helpers import unavailable
from tests.render.browser import loaded

ROOT = Path(__file__).resolve().parents[2]

ORDER = ["python-base", "end", "svc.a", "svc-b"]
TIERS = {"python-base": "foundation", "end": "tier 1", "svc.a": "services",
         "svc-b": "services"}
PARENTS = {"end": ["python-base"], "svc.a": ["end"], "svc-b": ["end", "svc.a"]}


def test_tiers_are_subgraphs_holding_their_images() -> None:
    text = flowchart(ORDER, TIERS, PARENTS, {})
    assert text.startswith("flowchart LR\n")
    blocks = re.findall(r"subgraph (\w+)\[\"([^\"]+)\"\]\n(.*?)\n  end", text, re.S)
    assert [(b[1], re.findall(r"\[\"([^\"]+)\"\]", b[2])) for b in blocks] == [
        ("foundation", ["python-base"]), ("tier 1", ["end"]),
        ("services", ["svc.a", "svc-b"])]


def test_from_edges_are_solid_and_depends_on_edges_dotted() -> None:
    text = flowchart(ORDER, TIERS, PARENTS, {"svc-b": ("svc.a",)})
    edges = re.findall(r"^  (\w+) (.+?) (\w+)$", text, re.M)
    assert edges == [("python_base", "-->", "i_end"), ("i_end", "-->", "svc_a"),
                     ("i_end", "-->", "svc_b"), ("svc_a", "-. depends_on .->", "svc_b")]


def test_ids_are_safe_and_distinct_whatever_the_names() -> None:
    assert node_id("end") == "i_end" and node_id("9lives") == "i_9lives"
    text = flowchart(["a-b", "a.b"], {"a-b": "t", "a.b": "t"}, {"a.b": ["a-b"]}, {})
    assert 'a_b["a-b"]' in text and 'a_b_2["a.b"]' in text and "a_b --> a_b_2" in text
    quoted = flowchart(['x"y'], {'x"y': "t"}, {}, {})
    assert 'x_y["x#quot;y"]' in quoted


def test_stale_images_are_coloured_and_the_rest_marked_fresh() -> None:
    text = flowchart(ORDER, TIERS, PARENTS, {}, stale={"svc.a", "svc-b"})
    assert "classDef stale" in text and "classDef fresh" in text
    assert "  class svc_a,svc_b stale\n" in text
    assert "  class python_base,i_end fresh\n" in text
    assert "classDef" not in flowchart(ORDER, TIERS, PARENTS, {})


def mermaid_js() -> Path:
    """mermaid.js as `make mermaid` fetches it (the npm package's one-file build)."""
    found = sorted(ROOT.glob(".cache/mermaid-*/mermaid.min.js"))
    if not found:
        unavailable("mermaid.min.js is not in .cache/: run `make mermaid` (npm)")
    return found[-1]


def test_mermaid_itself_draws_it_in_a_browser(tmp_path: Path) -> None:
    text = flowchart(ORDER, TIERS, PARENTS, {"svc-b": ("svc.a",)}, stale={"svc.a", "svc-b"})
    page = tmp_path / "graph.html"
    page.write_text(f'<!DOCTYPE html><html><body><div id="out"></div>'
                    f'<script src="{mermaid_js().as_uri()}"></script></body></html>')
    with loaded(page) as browser:
        res = browser.call("Runtime.evaluate", awaitPromise=True, returnByValue=True,
                           expression=_DRAW % json.dumps(text))
        assert "exceptionDetails" not in res, res   # a syntax error rejects the promise
        drawn = json.loads(res["result"]["value"])
        assert browser.console_errors == []
    assert sorted(drawn["nodes"]) == sorted(ORDER)
    assert sorted(drawn["clusters"]) == ["foundation", "services", "tier 1"]
    assert drawn["edges"] == 4 and drawn["dotted"] == 1
    assert sorted(drawn["stale"]) == ["svc-b", "svc.a"]


_DRAW = """mermaid.initialize({startOnLoad: false});
mermaid.render('g', %s).then(function (r) {
  var d = document.getElementById('out');
  d.innerHTML = r.svg;
  function texts(sel) {
    return Array.from(d.querySelectorAll(sel)).map(function (e) {
      return e.textContent.trim(); });
  }
  return JSON.stringify({nodes: texts('g.node'), clusters: texts('g.cluster-label'),
    edges: d.querySelectorAll('path.flowchart-link').length,
    dotted: d.querySelectorAll('path.flowchart-link.edge-pattern-dotted').length,
    stale: texts('g.node.stale')});
})"""
