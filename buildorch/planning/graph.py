"""The tier graph: images as nodes, parent -> child edges.

Plain dicts on the hot path (a plan must take well under a second, and importing networkx alone
costs ~80 ms); networkx where it is the right tool: finding a cycle and reporting it as a path,
and `to_networkx()` for anyone who wants the graph as a DiGraph.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Mapping, Sequence
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
        if len(graph.order()) < len(all_nodes):
            cycle = find_cycle(graph.to_networkx())
            raise BuildorchError(
                "parent cycle: " + " -> ".join(cycle)
                + "; break it in services.toml (depends_on) or the FROM lines"
            )
        return graph

    def _key(self, n: str) -> tuple[int, str]:
        return (self.tier_rank.get(self.nodes[n][0], 99), n)

    def order(self, subset: Iterable[str] | None = None) -> list[str]:
        """A stable build order: parents first, then by tier order and name (Kahn's algorithm
        with a heap). On a cycle, the nodes in it are left out."""
        waiting = {n: len(ps) for n, ps in self.parent_map.items()}
        ready = [self._key(n) for n, k in waiting.items() if k == 0]
        heapq.heapify(ready)
        full: list[str] = []
        while ready:
            _, n = heapq.heappop(ready)
            full.append(n)
            for c in self.child_map[n]:
                waiting[c] -= 1
                if waiting[c] == 0:
                    heapq.heappush(ready, self._key(c))
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


def find_cycle(g: Any) -> list[str]:
    """A cycle of a networkx DiGraph as a closed path ['a', 'b', 'a'], or []."""
    import networkx as nx

    try:
        edges = nx.find_cycle(g)
    except nx.NetworkXNoCycle:
        return []
    path = [str(u) for u, _ in edges]
    return [*path, path[0]]
