"""The tier graph: images as nodes, parent -> child edges.

Plain dicts on the hot path (a plan must take well under a second, and importing networkx alone
costs ~80 ms): `topological_order` is the one topological sort of buildorch (the planner's
order and the scheduler's both use it) and reports a cycle as a path. networkx is the tests'
oracle for it, and `to_networkx()` is there for anyone who wants the graph as a DiGraph.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from buildorch.errors import BuildorchError


@dataclass(frozen=True)
class ImageGraph:
    nodes: Mapping[str, tuple[str, str]]      # name -> (tier, kind)
    parent_map: Mapping[str, tuple[str, ...]]
    child_map: Mapping[str, tuple[str, ...]]
    tier_rank: Mapping[str, int]

    @classmethod
    def build(cls, nodes: Mapping[str, tuple[str, str]], parents: Mapping[str, Sequence[str]],
              tier_order: Sequence[str]) -> ImageGraph:
        """nodes: name -> (tier, kind). Raises BuildorchError naming a cycle as a path."""
        all_nodes = dict(nodes)
        for ps in parents.values():
            for p in ps:
                all_nodes.setdefault(p, ("?", "?"))   # named by depends_on, not configured
        pmap = {n: tuple(dict.fromkeys(parents.get(n, ()))) for n in all_nodes}
        cmap: dict[str, list[str]] = {n: [] for n in all_nodes}
        for child, ps in pmap.items():
            for p in ps:
                cmap[p].append(child)
        graph = cls(all_nodes, pmap, {n: tuple(c) for n, c in cmap.items()},
                    {t: i for i, t in enumerate(tier_order)})
        _, cycle = topological_order(list(all_nodes), pmap, graph._key)
        if cycle:
            raise BuildorchError(
                f"parent cycle: {cycle}; break it in services.toml (depends_on) or the FROM lines"
            )
        return graph

    def _key(self, n: str) -> tuple[int, str]:
        return (self.tier_rank.get(self.nodes[n][0], 99), n)

    def order(self, subset: Iterable[str] | None = None) -> list[str]:
        """A stable build order: parents first, then by tier order and name. On a cycle, the
        nodes in it (and behind it) are left out."""
        full, _ = topological_order(list(self.nodes), self.parent_map, self._key)
        if subset is None:
            return full
        keep = set(subset)
        return [n for n in full if n in keep]

    def parents(self, n: str) -> list[str]:
        return sorted(self.parent_map[n], key=self._key)

    def children(self, n: str) -> list[str]:
        return sorted(self.child_map[n], key=self._key)

    def _reach(self, n: str, edges: Mapping[str, tuple[str, ...]]) -> set[str]:
        seen: set[str] = set()
        todo = list(edges[n])
        while todo:
            m = todo.pop()
            if m not in seen:
                seen.add(m)
                todo.extend(edges[m])
        return seen

    def descendants(self, n: str) -> set[str]:
        return self._reach(n, self.child_map)

    def ancestors(self, n: str) -> set[str]:
        return self._reach(n, self.parent_map)

    def tier(self, n: str) -> str:
        return self.nodes[n][0]

    def in_degree(self, n: str) -> int:
        return len(self.parent_map[n])

    def to_networkx(self) -> Any:
        """The graph as a networkx DiGraph (edges parent -> child; node attrs tier, kind)."""
        import networkx as nx

        g = nx.DiGraph()
        for name, (tier, kind) in self.nodes.items():
            g.add_node(name, tier=tier, kind=kind)
        for child, ps in self.parent_map.items():
            for p in ps:
                g.add_edge(p, child)
        return g

    # -- renderings -------------------------------------------------------------------------

    def tree_lines(self) -> list[str]:
        """Like the seed's pipeline picture: each image under its first parent, roots at the top.
        Images with several parents show under each, marked with the others."""
        lines: list[str] = []

        def walk(n: str, prefix: str, last: bool, depth: int) -> None:
            ps = self.parents(n)
            extra = f"  (also from {', '.join(p for p in ps if p != ps[0])})" if len(ps) > 1 \
                else ""
            label = f"{n} [{self.tier(n)}]{extra}"
            if depth == 0:
                lines.append(label)
            else:
                lines.append(f"{prefix}{'└── ' if last else '├── '}{label}")
            kids = self.children(n)
            for i, k in enumerate(kids):
                walk(k, prefix + ("" if depth == 0 else ("    " if last else "│   ")),
                     i == len(kids) - 1, depth + 1)

        for root in self.order():
            if self.in_degree(root) == 0:
                walk(root, "", True, 0)
        return lines

    def dot(self) -> str:
        out = ["digraph buildorch {", "  rankdir=LR;"]
        by_tier: dict[str, list[str]] = {}
        for n in self.order():
            by_tier.setdefault(self.tier(n), []).append(n)
        for i, (tier, names) in enumerate(by_tier.items()):
            out.append(f"  subgraph cluster_{i} {{ label={json.dumps(tier)};")
            out.extend(f"    {json.dumps(n)};" for n in names)
            out.append("  }")
        edges = [(p, c) for c, ps in self.parent_map.items() for p in ps]
        for p, c in sorted(edges, key=lambda e: (self._key(e[0]), self._key(e[1]))):
            out.append(f"  {json.dumps(p)} -> {json.dumps(c)};")
        out.append("}")
        return "\n".join(out)

    def to_json(self) -> dict[str, object]:
        return {
            "images": [
                {"name": n, "tier": self.tier(n), "kind": self.nodes[n][1],
                 "parents": self.parents(n)}
                for n in self.order()
            ]
        }


def topological_order(nodes: Sequence[str], parents: Mapping[str, Iterable[str]],
                      key: Callable[[str], Any] | None = None) -> tuple[list[str], str | None]:
    """Parents before children (Kahn's algorithm with a heap); among ready nodes, the smallest
    `key` first (default: the order of `nodes`, so the sort is stable). Parents not in `nodes`
    are ignored. Returns (order, cycle): when some nodes are on or behind a cycle they are left
    out of the order and `cycle` is one cycle as a path, 'a -> b -> a'; else cycle is None."""
    position = {n: i for i, n in enumerate(nodes)}
    rank: Callable[[str], Any] = key or position.__getitem__
    own = {n: [p for p in dict.fromkeys(parents.get(n, ())) if p in position] for n in nodes}
    children: dict[str, list[str]] = {n: [] for n in nodes}
    for n in nodes:
        for p in own[n]:
            children[p].append(n)
    waiting = {n: len(ps) for n, ps in own.items()}
    ready = [(rank(n), position[n], n) for n in nodes if waiting[n] == 0]
    heapq.heapify(ready)
    out: list[str] = []
    while ready:
        n = heapq.heappop(ready)[2]
        out.append(n)
        for c in children[n]:
            waiting[c] -= 1
            if waiting[c] == 0:
                heapq.heappush(ready, (rank(c), position[c], c))
    if len(out) == len(nodes):
        return out, None
    return out, _cycle_path(nodes, own, set(out))


def _cycle_path(nodes: Sequence[str], parents: Mapping[str, Sequence[str]],
                ordered: set[str]) -> str:
    """Walk parents from the first node left unordered; every such node has an unordered
    parent, so the walk must come back to a node it has seen: that loop is the cycle."""
    name = next(n for n in nodes if n not in ordered)
    path: list[str] = []
    seen: dict[str, int] = {}
    while name not in seen:
        seen[name] = len(path)
        path.append(name)
        name = next(p for p in parents[name] if p not in ordered)
    return " -> ".join([*path[seen[name]:], name])
