"""Tables for people: plain text (logs, pipes) or rich (a terminal). The one table renderer
of buildorch; cells are strings, numbers right-aligned."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence

__all__ = ["plain_table", "print_table"]

_NUMERIC = re.compile(r"^[-\d./%s]+$")


def plain_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(c) for c in col) for col in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        out = [c.rjust(w) if i and _NUMERIC.match(c) else c.ljust(w)
               for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(out).rstrip()

    return "\n".join([title, line(header), *(line(r) for r in rows)])



def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]], *,
                rich: bool | None = None) -> None:
    """On a terminal (or rich=True) a rich table, else `plain_table` on stdout."""
    if rich is None:
        rich = sys.stdout.isatty()
    if not rich:
        print(plain_table(title, header, rows))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title or None, title_justify="left")
    for i, h in enumerate(header):
        numeric = i > 0 and all(_NUMERIC.match(r[i]) for r in rows if r[i])
        t.add_column(h, justify="right" if numeric else "left")
    for r in rows:
        t.add_row(*r)
    Console().print(t)
