"""The tier graph and the plan as pure functions, with property tests over random DAGs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buildorch.edges.state import Record
from buildorch.errors import BuildorchError
from buildorch.planning.digest import Snapshot
from buildorch.planning.graph import ImageGraph
from buildorch.planning.plan import make_plan

TIERS = ["foundation", "tier-1", "tier-2", "services"]


def _graph(parents: dict[str, list[str]], tiers: dict[str, str] | None = None) -> ImageGraph:
    tiers = tiers or {}
    return ImageGraph.build({n: (tiers.get(n, "services"), "base") for n in parents}, parents,
                            TIERS)


def _rec(digest: str, parents: dict[str, str] | None = None,
         files: dict[str, str] | None = None, **kw: object) -> Record:
    return Record(digest=digest, instructions=str(kw.get("instructions", "i")),
                  args=dict(kw.get("args", {})),  # type: ignore[call-overload]
                  target=None, platform=None, parents=parents or {},
                  files=files if files is not None else {}, dockerfile="Dockerfile")


SEED = {
    "python-base": [], "python-audio": ["python-base"], "python-ml": ["python-base"],
    "tools": ["python-base"], "python-ml-audio": ["python-ml"], "stt": ["python-ml-audio"],
    "discord": ["python-audio"], "linter": ["tools"],
}
SEED_TIERS = {"python-base": "foundation", "python-audio": "tier-1", "python-ml": "tier-1",
              "tools": "tier-1", "python-ml-audio": "tier-2"}


def test_order_puts_parents_first_then_tier_then_name() -> None:
    g = _graph(SEED, SEED_TIERS)
    assert g.order() == ["python-base", "python-audio", "python-ml", "tools", "python-ml-audio",
                         "discord", "linter", "stt"]


def test_cycle_is_reported_as_a_path() -> None:
    with pytest.raises(BuildorchError) as info:
        _graph({"a": ["c"], "b": ["a"], "c": ["b"], "d": []})
    msg = str(info.value)
    assert msg.startswith("parent cycle: ")
    path = msg.split(": ", 1)[1].split(";")[0].split(" -> ")
    assert path[0] == path[-1] and set(path) == {"a", "b", "c"}


def test_tree_rendering_matches_the_seed_picture() -> None:
    lines = _graph(SEED, SEED_TIERS).tree_lines()
    assert lines == [
        "python-base [foundation]",
        "├── python-audio [tier-1]",
        "│   └── discord [services]",
        "├── python-ml [tier-1]",
        "│   └── python-ml-audio [tier-2]",
        "│       └── stt [services]",
        "└── tools [tier-1]",
        "    └── linter [services]",
    ]


def test_dot_and_json() -> None:
    g = _graph({"a": [], "b": ["a"]})
    assert '"a" -> "b";' in g.dot()
    assert g.to_json() == {"images": [
        {"name": "a", "tier": "services", "kind": "base", "parents": []},
        {"name": "b", "tier": "services", "kind": "base", "parents": ["a"]}]}


def _snap(parents: dict[str, list[str]], digests: dict[str, str]) -> Snapshot:
    g = _graph(parents)
    return Snapshot("now", g, {n: _rec(digests[n], {p: digests[p] for p in parents[n]})
                               for n in parents})


def test_reasons_name_what_changed() -> None:
    parents = {"base": [], "svc": ["base"], "other": []}
    then = {"base": _rec("b0", files={"req.txt": "1", "gone.txt": "1"}, args={"V": "1"}),
            "svc": _rec("s0", {"base": "b0"}),
            "other": _rec("o0")}
    now = Snapshot("now", _graph(parents), {
        "base": _rec("b1", files={"req.txt": "2", "new.txt": "1"}, args={"V": "2"},
                     instructions="j"),
        "svc": _rec("s1", {"base": "b1"}),
        "other": _rec("o0"),
    })
    plan = make_plan(now, then, what="the manifest")
    assert plan.to_json() == {
        "stale": [
            {"name": "base", "tier": "services", "reasons": [
                "Dockerfile changed: Dockerfile", "config changed: args.V",
                "input changed: req.txt", "input added: new.txt", "input removed: gone.txt"]},
            {"name": "svc", "tier": "services", "reasons": ["parent base rebuilt"]},
        ],
        "fresh": ["other"],
    }


def test_selection_plans_the_image_and_its_stale_ancestry_only() -> None:
    parents = {"base": [], "a": ["base"], "b": ["base"]}
    now = _snap(parents, {"base": "B", "a": "A", "b": "X"})
    plan = make_plan(now, {}, what="the manifest", selected=["a"])
    assert plan.names == ["base", "a"] and plan.fresh == ()
    with pytest.raises(BuildorchError, match="unknown image 'c'"):
        make_plan(now, {}, what="m", selected=["c"])


def test_selection_without_ancestry_plans_exactly_the_images_named() -> None:
    """`build --no-deps` (CI, a tier at a time): the parents are taken as they are."""
    parents = {"base": [], "a": ["base"], "b": ["base"]}
    now = _snap(parents, {"base": "B", "a": "A", "b": "X"})
    plan = make_plan(now, {}, what="the manifest", selected=["a", "b"], ancestry=False)
    assert plan.names == ["a", "b"] and plan.fresh == ()
    assert plan.stale[0].reasons == ("not in the manifest",)


def test_missing_image_and_all_flag() -> None:
    parents = {"base": [], "a": ["base"]}
    now = _snap(parents, {"base": "B", "a": "A"})
    base = dict(now.records)
    assert make_plan(now, base, what="m").names == []
    held = {"a": "A"}   # base is gone from the engine
    p = make_plan(now, base, what="m", engine=held)
    assert [s.reasons for s in p.stale] == [("image missing locally",), ("parent base rebuilt",)]
    p = make_plan(now, base, what="m", engine={"base": "B", "a": None})
    assert p.to_json()["stale"] == [{"name": "a", "tier": "services", "reasons": [
        "image in the engine is not the one buildorch built"]}]
    assert make_plan(now, base, what="m", engine={"base": "B", "a": "A"}).names == []
    assert make_plan(now, base, what="m", force_all=True).stale[0].reasons == ("--all requested",)


def test_parent_changed_since_child_was_built() -> None:
    parents = {"base": [], "a": ["base"]}
    now = _snap(parents, {"base": "B2", "a": "A"})
    then = {"base": _rec("B2"), "a": _rec("A", {"base": "B1"})}
    p = make_plan(now, then, what="m")
    assert p.to_json()["stale"] == [
        {"name": "a", "tier": "services", "reasons": ["parent base changed since a was built"]}]


@st.composite
def dags(draw: st.DrawFn) -> dict[str, list[str]]:
    n = draw(st.integers(1, 12))
    names = [f"i{k}" for k in range(n)]
    parents: dict[str, list[str]] = {}
    for k, name in enumerate(names):
        parents[name] = sorted(draw(st.sets(st.sampled_from(names[:k]), max_size=3))) if k else []
    return parents


@settings(max_examples=200, deadline=None)
@given(dags(), st.data())
def test_plan_properties(parents: dict[str, list[str]], data: st.DataObject) -> None:
    names = list(parents)
    changed = data.draw(st.sets(st.sampled_from(names)))
    never_built = data.draw(st.sets(st.sampled_from(names)))
    snap = _snap(parents, {n: f"{n}-new" if n in changed else n for n in names})
    then = {n: _rec(n, {p: p for p in parents[n]}) for n in names if n not in never_built}
    plan = make_plan(snap, then, what="m")
    stale = plan.names
    # every stale image's dependents are stale
    for s in stale:
        assert snap.graph.descendants(s) <= set(stale)
    # stale is a valid build order
    seen: set[str] = set()
    for s in stale:
        assert all(p in seen for p in parents[s] if p in stale)
        seen.add(s)
    # stale and fresh partition the images; exactly the changed/new ones and their dependents
    assert sorted(stale + list(plan.fresh)) == sorted(names)
    expected = set(changed | never_built)
    for s in list(expected):
        expected |= snap.graph.descendants(s)
    assert set(stale) == expected


@settings(max_examples=200, deadline=None)
@given(dags(), st.data())
def test_order_matches_networkx(parents: dict[str, list[str]], data: st.DataObject) -> None:
    """networkx is the oracle for the hot path's own Kahn sort, ancestry and descendants."""
    import networkx as nx

    tiers = {n: data.draw(st.sampled_from(TIERS)) for n in parents}
    g = _graph(parents, tiers)
    ng = g.to_networkx()
    assert g.order() == list(nx.lexicographical_topological_sort(ng, key=g._key))
    for n in parents:
        assert g.descendants(n) == nx.descendants(ng, n)
        assert g.ancestors(n) == nx.ancestors(ng, n)
