"""The tier graph: images as nodes, parent -> child edges, in a networkx DiGraph."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import networkx as nx

from buildorch.errors import BuildorchError


@dataclass(frozen=True)
class ImageGraph:
    g: nx.DiGraph        # edge parent -> child; node attrs: tier, kind
    tier_rank: Mapping[str, int]

    @classmethod
    def build(cls, nodes: Mapping[str, tuple[str, str]], parents: Mapping[str, Sequence[str]],
              tier_order: Sequence[str]) -> ImageGraph:
        """nodes: name -> (tier, kind). Raises BuildorchError naming a cycle as a path."""
        g = nx.DiGraph()
        for name, (tier, kind) in nodes.items():
            g.add_node(name, tier=tier, kind=kind)
        for child, ps in parents.items():
            for p in ps:
                g.add_edge(p, child)
        cycle = find_cycle(g)
        if cycle:
            raise BuildorchError(
                "parent cycle: " + " -> ".join(cycle)
                + "; break it in services.toml (depends_on) or the FROM lines"
            )
        return cls(g, {t: i for i, t in enumerate(tier_order)})

    def _key(self, n: str) -> tuple[int, str]:
        return (self.tier_rank.get(self.g.nodes[n]["tier"], 99), n)

    def order(self, subset: Iterable[str] | None = None) -> list[str]:
        """A stable build order: parents first, then by tier order and name."""
        full: list[str] = list(nx.lexicographical_topological_sort(self.g, key=self._key))
        if subset is None:
            return full
        keep = set(subset)
        return [n for n in full if n in keep]

    def parents(self, n: str) -> list[str]:
        return sorted(self.g.predecessors(n), key=self._key)

    def children(self, n: str) -> list[str]:
        return sorted(self.g.successors(n), key=self._key)

    def descendants(self, n: str) -> set[str]:
        return set(nx.descendants(self.g, n))

    def ancestors(self, n: str) -> set[str]:
        return set(nx.ancestors(self.g, n))

    def tier(self, n: str) -> str:
        return str(self.g.nodes[n]["tier"])

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
            if self.g.in_degree(root) == 0:
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
        for p, c in sorted(self.g.edges(), key=lambda e: (self._key(e[0]), self._key(e[1]))):
            out.append(f"  {json.dumps(p)} -> {json.dumps(c)};")
        out.append("}")
        return "\n".join(out)

    def to_json(self) -> dict[str, object]:
        return {
            "images": [
                {"name": n, "tier": self.tier(n), "kind": self.g.nodes[n]["kind"],
                 "parents": self.parents(n)}
                for n in self.order()
            ]
        }


def find_cycle(g: nx.DiGraph) -> list[str]:
    """A cycle as a closed path ['a', 'b', 'a'], or []."""
    try:
        edges = nx.find_cycle(g)
    except nx.NetworkXNoCycle:
        return []
    path = [str(u) for u, _ in edges]
    return [*path, path[0]]
