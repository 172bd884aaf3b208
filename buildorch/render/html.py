"""The one HTML renderer: a self-contained page (inline CSS, SVG and a little JS; no network,
no fonts to fetch) with a time axis of bars, line charts and tables. `--timings` pages
(render/timings.py) and `stats --html` are both made of these parts."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from buildorch.units import format_duration

_CSS = """
:root{--fg:#1f2328;--mute:#656d76;--line:#d0d7de;--bg:#fff}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);
background:var(--bg);margin:24px;max-width:1200px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.sub{color:var(--mute);margin:0 0 16px}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:3px 10px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
td.n,th.n{text-align:right}
svg{display:block;overflow:visible}svg text{font:12px system-ui,sans-serif;fill:var(--fg)}
svg .axis{stroke:var(--line)}svg .tick{fill:var(--mute)}
.legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}
.row.dim{opacity:.25}.row:hover .label{font-weight:600}
.crit{stroke:#1f2328;stroke-width:2}.label.critical{font-weight:700}
.waiting{fill:#e6e8eb}.queued{fill:#f4d58d}
.built{fill:#2da44e}.reused{fill:#54aeff}.failed{fill:#cf222e}.cancelled{fill:#bc4c00}
.interrupted{fill:#8250df}.skipped{fill:#afb8c1}.unfinished{fill:#57606a}
.seg.smoke{fill-opacity:.55}
.series0{stroke:#0969da}.series1{stroke:#2da44e}.series2{stroke:#bf3989}.series3{stroke:#bc4c00}
.series4{stroke:#8250df}.series5{stroke:#1b7c83}.series6{stroke:#9a6700}.series7{stroke:#57606a}
path.line{fill:none;stroke-width:2}.limit{stroke:#cf222e;stroke-dasharray:4 3}
"""

# Hover a row to see its phases; "critical path only" dims the rest. No network, no eval.
_JS = """
(function(){
  var box=document.getElementById('only-critical');
  if(!box)return;
  box.addEventListener('change',function(){
    document.querySelectorAll('g.row').forEach(function(g){
      g.classList.toggle('dim',box.checked&&g.getAttribute('data-critical')!=='1');
    });
  });
})();
"""

LABEL_W = 190
PLOT_W = 760
NOTE_W = 120
ROW_H = 20


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def page(title: str, subtitle: str, sections: Sequence[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{esc(title)}</h1><p class=\"sub\">{esc(subtitle)}</p>"
            + "".join(sections) + f"<script>{_JS}</script></body></html>\n")


def section(title: str, *parts: str) -> str:
    return f"<section><h2>{esc(title)}</h2>{''.join(parts)}</section>"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *,
          numeric: Sequence[bool] = ()) -> str:
    num = list(numeric) + [False] * (len(header) - len(numeric))
    head = "".join(f"<th{' class=n' if n else ''}>{esc(h)}</th>" for h, n in zip(header, num,
                                                                                  strict=True))
    body = "".join("<tr>" + "".join(f"<td{' class=n' if n else ''}>{esc(c)}</td>"
                                    for c, n in zip(r, num, strict=True)) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def legend(items: Sequence[tuple[str, str]]) -> str:
    """(css class, text) pairs as coloured swatches."""
    return "<p class=\"legend\">" + "".join(
        f"<span><svg width=12 height=12 style=\"display:inline;vertical-align:-1px\">"
        f"<rect class=\"{esc(c)}\" width=12 height=12></rect></svg> {esc(t)}</span>"
        for c, t in items) + "</p>"


def nice_step(span: float, ticks: int = 8) -> float:
    """A 1, 2 or 5 times a power of ten that cuts `span` into about `ticks` parts."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    base = 10 ** math.floor(math.log10(raw))
    return float(next(m * base for m in (1, 2, 5, 10) if m * base >= raw))


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    css: str               # classes: the phase and the colour
    title: str             # the tooltip
    data: Mapping[str, str]


@dataclass(frozen=True)
class BarRow:
    label: str
    segments: Sequence[Segment]
    note: str = ""         # right of the plot (e.g. cache hits)
    emphasis: bool = False  # drawn outlined, label bold (the critical path)


def _axis(t_max: float, x0: float, scale: float, y: float, height: float) -> str:
    step = nice_step(t_max)
    out = []
    t = 0.0
    while t <= t_max + 1e-9:
        x = x0 + t * scale
        out.append(f"<line class=axis x1={x:.1f} x2={x:.1f} y1={y:.1f} y2={y + height:.1f}>"
                   f"</line><text class=tick x={x:.1f} y={y - 4:.1f} text-anchor=middle>"
                   f"{esc(format_duration(t))}</text>")
        t += step
    return "".join(out)


def time_bars(rows: Sequence[BarRow], t_max: float) -> str:
    """One row per item on a common time axis (seconds from 0 to `t_max`); each segment a
    rect carrying `data-*` attributes (the browser test measures them)."""
    t_max = max(t_max, 1e-3)
    scale = PLOT_W / t_max
    top = 20
    height = top + ROW_H * len(rows) + 4
    out = [f"<svg id=timeline width={LABEL_W + PLOT_W + NOTE_W} height={height} "
           f"data-scale=\"{scale:.6f}\">",
           _axis(t_max, LABEL_W, scale, top - 2, ROW_H * len(rows) + 4)]
    for i, r in enumerate(rows):
        y = top + i * ROW_H
        out.append(f"<g class=row data-critical=\"{int(r.emphasis)}\">"
                   f"<text class=\"label{' critical' if r.emphasis else ''}\" x={LABEL_W - 8} "
                   f"y={y + 14} text-anchor=end>{esc(r.label)}</text>")
        for s in r.segments:
            x, w = LABEL_W + s.start * scale, max((s.end - s.start) * scale, 0.0)
            data = "".join(f" data-{k}=\"{esc(v)}\"" for k, v in s.data.items())
            out.append(f"<rect class=\"seg {esc(s.css)}\" x={x:.2f} y={y + 3} width={w:.2f} "
                       f"height={ROW_H - 6}{data}><title>{esc(s.title)}</title></rect>")
        if r.note:
            out.append(f"<text class=tick x={LABEL_W + PLOT_W + 8} y={y + 14}>"
                       f"{esc(r.note)}</text>")
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def line_chart(series: Mapping[str, Sequence[tuple[float, float]]], *, x_max: float,
               y_label: str, step: bool = False, limit: float | None = None,
               x_labels: Mapping[float, str] | None = None, height: int = 160) -> str:
    """Lines over a common x axis from 0 to `x_max` (seconds, or indices with `x_labels`);
    `step`: a staircase (a count that changes at points); `limit`: a dashed bound."""
    x_max = max(x_max, 1e-3)
    ys = [y for pts in series.values() for _, y in pts] + ([limit] if limit else [])
    y_max = max([1.0, *ys]) * 1.1
    sx, sy = PLOT_W / x_max, (height - 30) / y_max
    top = 16

    def pt(x: float, y: float) -> str:
        return f"{LABEL_W + x * sx:.1f},{top + (y_max - y) * sy:.1f}"

    out = [f"<svg width={LABEL_W + PLOT_W + NOTE_W} height={height}>",
           f"<text class=tick x={LABEL_W - 8} y={top + 10} text-anchor=end>{esc(y_label)}"
           f"</text><text class=tick x={LABEL_W - 8} y={top + (height - 30)} text-anchor=end>0"
           f"</text><text class=tick x={LABEL_W - 8} y={top + 22} text-anchor=end>"
           f"{esc(_num(y_max / 1.1))}</text>"]
    if x_labels is None:
        out.append(_axis(x_max, LABEL_W, sx, top, height - 30))
    else:
        for x, text in x_labels.items():
            out.append(f"<text class=tick x={LABEL_W + x * sx:.1f} y={height - 2} "
                       f"text-anchor=middle>{esc(text)}</text>")
    if limit:
        out.append(f"<line class=limit x1={LABEL_W} x2={LABEL_W + PLOT_W} "
                   f"y1={top + (y_max - limit) * sy:.1f} y2={top + (y_max - limit) * sy:.1f}>"
                   f"<title>limit {esc(_num(limit))}</title></line>")
    for i, (name, pts) in enumerate(series.items()):
        if not pts:
            continue
        coords: list[str] = []
        for j, (x, y) in enumerate(pts):
            if step and j:
                coords.append(pt(x, pts[j - 1][1]))
            coords.append(pt(x, y))
        if step:
            coords.append(pt(x_max, pts[-1][1]))
        out.append(f"<path class=\"line series{i % 8}\" d=\"M{' L'.join(coords)}\">"
                   f"<title>{esc(name)}</title></path>")
        if len(series) > 1:
            x, y = pts[-1]
            out.append(f"<text x={LABEL_W + PLOT_W + 8} y={top + (y_max - y) * sy + 4:.1f}>"
                       f"{esc(name)}</text>")
    out.append("</svg>")
    return "".join(out)


def _num(v: float) -> str:
    return f"{v:.0f}" if v >= 10 or v == int(v) else f"{v:.1f}"
