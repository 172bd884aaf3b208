"""A run's timings page (`--timings`): the timeline of render/html.py's parts, one bar per image
split into its phases and coloured by outcome, cache hits beside it, the critical path
outlined, concurrency over time and the run's totals."""

from __future__ import annotations

import time

from buildorch.render import html as h
from buildorch.running.timeline import OUTCOMES, ImageSpan, Timeline
from buildorch.units import format_duration

_PHASE_TEXT = {"waiting": "waiting for a parent", "queued": "queued for a job slot",
               "building": "building", "smoke": "smoke check"}


def _row(i: ImageSpan, critical: bool) -> h.BarRow:
    segs = []
    for phase, a, b in i.phases():
        colour = phase if phase in ("waiting", "queued") else i.outcome
        crit = " crit" if critical and phase in ("building", "smoke") else ""
        segs.append(h.Segment(
            a, b, f"{phase} {colour}{crit}",
            f"{i.name}: {_PHASE_TEXT[phase]} {format_duration(b - a)} ({i.outcome})",
            {"image": i.name, "phase": phase, "dur": f"{b - a:.6f}"}))
    if not segs:   # skipped at the very start: a mark where it was skipped
        segs.append(h.Segment(i.ended, i.ended, f"skipped {i.outcome}",
                              f"{i.name}: {i.outcome} {i.reason}",
                              {"image": i.name, "phase": "none", "dur": "0"}))
    note = f"{i.cached_steps}/{i.step_count} cached" if i.step_count else i.outcome
    return h.BarRow(i.name, segs, note, critical)


def page(tl: Timeline, run_id: str) -> str:
    tot = tl.totals()
    crit = set(tl.critical)
    ran = [i for i in tl.images if i.started is not None]
    counts = ", ".join(f"{int(tot[o])} {o}" for o in OUTCOMES if tot[o])
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(tl.start)) if tl.start else ""
    steps = int(tot["steps"])
    totals = h.table(("", ""), [
        ("wall time", format_duration(tl.wall_s)),
        ("images", counts or "none"),
        ("job slots", str(tl.jobs)),
        ("building (sum)", format_duration(tot["building_s"])),
        ("smoke checks (sum)", format_duration(tot["smoke_s"])),
        ("queued for a slot (sum)", format_duration(tot["queued_s"])),
        ("waiting for a parent (sum)", format_duration(tot["waiting_s"])),
        ("average concurrency", f"{(tot['building_s'] + tot['smoke_s']) / tl.wall_s:.2f}"
         if tl.wall_s else "-"),
        ("steps cached", f"{int(tot['cached_steps'])}/{steps}"
         + (f" ({100 * tot['cached_steps'] / steps:.0f}%)" if steps else "")),
        ("critical path", f"{format_duration(tot['critical_s'])}: "
         + " → ".join(tl.critical) if tl.critical else "-"),
    ])
    phases = [("waiting", _PHASE_TEXT["waiting"]), ("queued", _PHASE_TEXT["queued"])]
    outcomes = [(o, f"building: {o}") for o in OUTCOMES if tot[o]]
    smoke = [("seg smoke built", "smoke check (lighter)")] if tot["smoke_s"] else []
    legend = h.legend([*phases, *outcomes, *smoke]) + (
        "<p class=legend><span><svg width=12 height=12 style=\"display:inline\">"
        "<rect class=\"built crit\" x=1 y=1 width=10 height=10></rect></svg> critical path "
        "(the parents behind the image that ended last)</span>"
        "<label><input type=checkbox id=only-critical> critical path only</label></p>")
    bars = h.time_bars([_row(i, i.name in crit) for i in tl.images], tl.wall_s)
    conc = tl.concurrency()
    chart = h.line_chart({"building": [(float(t), float(n)) for t, n in conc]},
                         x_max=tl.wall_s, y_label="images", step=True, limit=float(tl.jobs))
    rows = [(i.name, i.tier, i.outcome, str(i.slot or "-"),
             format_duration(i.duration("waiting")), format_duration(i.duration("queued")),
             format_duration(i.duration("building")), format_duration(i.duration("smoke")),
             f"{i.cached_steps}/{i.step_count}" if i.step_count else "-", i.reason[:120])
            for i in tl.images]
    detail = h.table(("image", "tier", "outcome", "slot", "waiting", "queued", "building",
                      "smoke", "cached", "reason"), rows,
                     numeric=(False, False, False, True, True, True, True, True, True, False))
    return h.page(f"buildorch run {run_id}",
                  f"{when} · {len(tl.images)} image(s), {len(ran)} started · "
                  f"{format_duration(tl.wall_s)}",
                  [h.section("Totals", totals), h.section("Timeline", legend, bars),
                   h.section("Concurrency (images holding a job slot; dashed: the jobs bound)",
                             chart),
                   h.section("Images", detail)])
