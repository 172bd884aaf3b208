"""CI hand-off: the stale images as a GitHub Actions matrix, and a build's summary as markdown.

Pure functions over the plan and the report; the `$GITHUB_OUTPUT` / `$GITHUB_STEP_SUMMARY`
appends are the only I/O, each one `write` so that parallel steps never interleave a line.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from buildorch.config import Config
from buildorch.planning.plan import Plan
from buildorch.running.report import BuildReport


def _entry(cfg: Config, name: str, tier: str) -> dict[str, object]:
    image = cfg.images[name]
    return {"name": name, "tier": tier, "dockerfile": image.dockerfile, "context": image.context,
            "tags": list(cfg.refs(name))}


def matrix(cfg: Config, plan: Plan, *, by_tier: bool = False) -> dict[str, object]:
    """`{"include": [...]}` in build order; with `by_tier`, `{"tiers": [{"tier", "include"}]}`
    in tier order (a job per tier that `needs` the previous one keeps parents first)."""
    include = [_entry(cfg, s.name, s.tier) for s in plan.stale]
    if not by_tier:
        return {"include": include}
    rank = {t: i for i, t in enumerate(cfg.tiers)}
    groups: dict[str, list[dict[str, object]]] = {}
    for e in include:
        groups.setdefault(str(e["tier"]), []).append(e)
    ordered = sorted(groups, key=lambda t: rank.get(t, len(rank)))
    return {"tiers": [{"tier": t, "include": groups[t]} for t in ordered]}


def tier_output(tier: str) -> str:
    """The `$GITHUB_OUTPUT` name of one tier's matrix (`ci workflow` wires jobs to it)."""
    return "matrix-" + re.sub(r"[^A-Za-z0-9_-]+", "-", tier).strip("-")


def tier_outputs(cfg: Config, plan: Plan) -> list[tuple[str, str]]:
    """One `{"include": [...]}` per tier that holds images, empty ones included, in tier order:
    a job per tier reads its own and is skipped when it is empty."""
    used = {i.tier for i in cfg.images.values()}
    grouped: dict[str, list[dict[str, object]]] = {t: [] for t in cfg.tiers if t in used}
    for s in plan.stale:
        grouped.setdefault(s.tier, []).append(_entry(cfg, s.name, s.tier))
    return [(tier_output(t), matrix_json({"include": inc})) for t, inc in grouped.items()]


def _append(path: Path, text: str) -> None:
    # O_APPEND and one write: concurrent steps appending to the same file do not interleave.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def write_output(name: str, value: str, *more: tuple[str, str]) -> Path | None:
    """Append `name=value` (and `more` pairs) to `$GITHUB_OUTPUT` when set, in one write;
    the file written, or None."""
    target = os.environ.get("GITHUB_OUTPUT")
    if not target:
        return None
    _append(Path(target), "".join(f"{k}={v}\n" for k, v in ((name, value), *more)))
    return Path(target)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def step_summary(report: BuildReport) -> str:
    """A markdown table of one build: image, tier, result, duration, cached/steps, reason."""
    tiers = {s.name: s.tier for s in report.plan.stale}
    lines = ["| image | tier | result | duration | cached/steps | reason |",
             "|---|---|---|---:|---:|---|"]
    for r in report.images.values():
        tier = tiers.get(r.name, "")
        duration = f"{r.duration_s:.1f}s" if r.result in ("built", "reused", "failed",
                                                            "interrupted") else "-"
        steps = f"{r.cached_steps}/{r.steps}" if r.steps else "-"
        lines.append(f"| {_cell(r.name)} | {_cell(tier)} | {r.result} | {duration} | {steps} "
                     f"| {_cell(r.reason)} |")
    counts = ", ".join(f"{report.count(k)} {k}" for k in
                       ("built", "reused", "up-to-date", "failed", "interrupted", "skipped",
                        "cancelled")
                       if report.count(k))
    lines.append("")
    lines.append(f"{counts or 'nothing built'} in {report.wall_s:.1f}s")
    return "\n".join(lines) + "\n"


def write_step_summary(report: BuildReport) -> Path | None:
    """Append `step_summary(report)` to `$GITHUB_STEP_SUMMARY` when set; the file, or None."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    _append(Path(target), step_summary(report) + "\n")
    return Path(target)


def matrix_json(data: dict[str, object]) -> str:
    return json.dumps(data, separators=(",", ":"))
