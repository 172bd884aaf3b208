"""The tier graph as a Mermaid flowchart (`graph --format mermaid`), which GitHub and GitLab
draw from a ```mermaid block: one subgraph per tier, a solid edge per FROM parent, a dotted one
for `depends_on`; with `stale`, what a plan would build is coloured."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

# Mermaid's words that break a flowchart when used as a node id.
_RESERVED = {"end", "graph", "subgraph", "flowchart", "style", "class", "classDef", "click",
             "linkStyle", "direction"}


def node_id(name: str) -> str:
    """An id Mermaid takes whatever the name (`python-ml`, `a.b`, `end`)."""
    ident = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return f"i_{ident}" if ident in _RESERVED or not ident[:1].isalpha() else ident


def _label(text: str) -> str:
    return '"' + text.replace('"', "#quot;") + '"'


def flowchart(order: Sequence[str], tier_of: Mapping[str, str],
              parents: Mapping[str, Sequence[str]],
              depends_on: Mapping[str, Collection[str]],
              stale: Collection[str] | None = None) -> str:
    """`order`: the images, parents first; `depends_on[n]`: which of `parents[n]` come from
    depends_on (drawn dotted; a parent named both ways is drawn as FROM would be: solid)
    . `stale`: the images a plan would build (None: no colours)."""
    ids: dict[str, str] = {}
    for n in order:
        base = node_id(n)
        ident, k = base, 1
        while ident in ids.values():   # two names that clean to one id
            k += 1
            ident = f"{base}_{k}"
        ids[n] = ident
    lines = ["flowchart LR"]
    tiers: dict[str, list[str]] = {}
    for n in order:
        tiers.setdefault(tier_of.get(n, "?"), []).append(n)
    for i, (tier, names) in enumerate(tiers.items()):
        lines.append(f"  subgraph tier{i}[{_label(tier)}]")
        lines.extend(f"    {ids[n]}[{_label(n)}]" for n in names)
        lines.append("  end")
    for n in order:
        for p in parents.get(n, ()):
            if p not in ids:
                continue
            arrow = "-. depends_on .->" if p in depends_on.get(n, ()) else "-->"
            lines.append(f"  {ids[p]} {arrow} {ids[n]}")
    if stale is not None:
        lines.append("  classDef stale fill:#ffe8cc,stroke:#e8590c,stroke-width:2px,color:#000")
        lines.append("  classDef fresh fill:#ebfbee,stroke:#2f9e44,color:#000")
        built = [ids[n] for n in order if n in stale]
        kept = [ids[n] for n in order if n not in stale]
        if built:
            lines.append(f"  class {','.join(built)} stale")
        if kept:
            lines.append(f"  class {','.join(kept)} fresh")
    return "\n".join(lines) + "\n"
