"""Cache analytics from `.buildorch/history.jsonl` (one object per image per run, written by
the build): builds, durations, step cache hit rates, up-to-date skips, cache sources and
failed cache imports, per image and per tier. Pure functions over the history rows."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

from buildorch.units import format_duration

SCHEMA = 1
RESULTS = ("built", "up-to-date", "reused", "failed", "cancelled")



@dataclass(frozen=True)
class Row:
    """Statistics of one image or one tier."""

    name: str
    tier: str
    runs: int
    built: int
    up_to_date: int
    reused: int
    failed: int
    cancelled: int
    median_s: float | None       # over built runs
    last_s: float | None         # the last built run
    steps: int                   # over built runs
    cached_steps: int
    hit_rate: float | None       # cached_steps / steps, None when nothing was built
    cache_sources: tuple[str, ...]   # kinds: local, registry, gha, ...
    cache_refs: tuple[str, ...]      # every configured source, in full
    import_failures: int         # built runs where BuildKit reported a failed cache import
    last_warning: str | None
    smoke_passed: int = 0        # runs whose smoke check passed
    smoke_failed: int = 0        # runs failed by their smoke check (failed or timed out)

    @property
    def up_to_date_rate(self) -> float | None:
        return self.up_to_date / self.runs if self.runs else None


@dataclass(frozen=True)
class Stats:
    images: tuple[Row, ...]
    tiers: tuple[Row, ...]
    total: Row

    def to_json(self) -> dict[str, object]:
        def row(r: Row) -> dict[str, object]:
            d = asdict(r)
            d["cache_sources"] = list(r.cache_sources)
            d["cache_refs"] = list(r.cache_refs)
            d["up_to_date_rate"] = r.up_to_date_rate
            return d

        return {"schema": SCHEMA, "images": [row(r) for r in self.images],
                "tiers": [row(r) for r in self.tiers], "total": row(self.total)}


def source_label(spec: str) -> str:
    """`type=local,src=/x/.buildorch/cache/stt` -> `local`; registry refs keep their ref."""
    fields = dict(p.split("=", 1) for p in spec.split(",") if "=" in p)
    kind = fields.get("type", spec)
    if kind == "registry" and "ref" in fields:
        return f"registry {fields['ref']}"
    if kind == "gha":
        return f"gha {fields.get('scope', '')}".strip()
    return kind


def _num(v: object) -> float:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else 0.0


def _strs(v: object) -> list[str]:
    return [str(x) for x in v] if isinstance(v, list) else []


def summarize(name: str, tier: str, rows: list[Mapping[str, object]]) -> Row:
    by: dict[str, list[Mapping[str, object]]] = {k: [] for k in RESULTS}
    for r in rows:
        by.setdefault(str(r.get("result")), []).append(r)
    built = sorted(by["built"], key=lambda r: _num(r.get("start")))
    durations = [_num(r.get("duration_s")) for r in built]
    steps = sum(int(_num(r.get("steps"))) for r in built)
    cached = sum(int(_num(r.get("cached_steps"))) for r in built)
    sources: dict[str, None] = {}
    refs: dict[str, None] = {}
    for r in rows:
        for s in _strs(r.get("cache_from")):
            refs.setdefault(source_label(s))
            sources.setdefault(source_label(s).split()[0])
    warned = [r for r in built if _strs(r.get("cache_warnings"))]
    last_warning = _strs(warned[-1].get("cache_warnings"))[0] if warned else None
    return Row(
        name=name, tier=tier, runs=len(rows), built=len(built),
        up_to_date=len(by["up-to-date"]), reused=len(by["reused"]), failed=len(by["failed"]),
        cancelled=len(by["cancelled"]),
        median_s=statistics.median(durations) if durations else None,
        last_s=durations[-1] if durations else None,
        steps=steps, cached_steps=cached, hit_rate=cached / steps if steps else None,
        cache_sources=tuple(sources), cache_refs=tuple(refs),
        import_failures=len(warned), last_warning=last_warning,
        smoke_passed=sum(1 for r in rows if r.get("smoke") == "passed"),
        smoke_failed=sum(1 for r in rows if r.get("smoke") in ("failed", "timeout")))


def compute(history: Iterable[Mapping[str, object]],
            tier_order: Iterable[str] = ()) -> Stats:
    rows = [h for h in history if "image" in h]
    per_image: dict[str, list[Mapping[str, object]]] = {}
    per_tier: dict[str, list[Mapping[str, object]]] = {}
    tier_of: dict[str, str] = {}
    for r in rows:
        img, tier = str(r["image"]), str(r.get("tier", "?"))
        per_image.setdefault(img, []).append(r)
        per_tier.setdefault(tier, []).append(r)
        tier_of[img] = tier
    order = {t: i for i, t in enumerate(tier_order)}

    def key(t: str) -> tuple[int, str]:
        return order.get(t, len(order)), t

    images = tuple(summarize(n, tier_of[n], per_image[n])
                   for n in sorted(per_image, key=lambda n: (key(tier_of[n]), n)))
    tiers = tuple(summarize(t, t, per_tier[t]) for t in sorted(per_tier, key=key))
    return Stats(images, tiers, summarize("all", "", rows))


# -- text -------------------------------------------------------------------------------------

def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"




HIT_COLUMNS = ("image", "tier", "built", "steps", "cached", "hit rate", "up to date",
               "cache from", "import failed")
TIME_COLUMNS = ("image", "tier", "runs", "built", "reused", "failed", "smoke failed", "median",
                "last")


def _drop_tier(t: tuple[str, ...]) -> tuple[str, ...]:
    return ("tier", *t[2:]) if t[0] == "image" else (t[0], *t[2:])


def table(kind: str, rows: Iterable[Row], *, tiers: bool = False
          ) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """Header and cells of the "hits" or "times" table, per image or (tiers=True) per tier."""
    header = HIT_COLUMNS if kind == "hits" else TIME_COLUMNS
    cells = hit_rows(rows) if kind == "hits" else time_rows(rows)
    if tiers:
        return _drop_tier(header), [_drop_tier(c) for c in cells]
    return header, cells


def hit_rows(rows: Iterable[Row]) -> list[tuple[str, ...]]:
    return [(r.name, r.tier, str(r.built), str(r.steps), str(r.cached_steps),
             pct(r.hit_rate), f"{r.up_to_date}/{r.runs}",
             ", ".join(r.cache_sources) or "-",
             str(r.import_failures) if r.import_failures else "-") for r in rows]


def time_rows(rows: Iterable[Row]) -> list[tuple[str, ...]]:
    return [(r.name, r.tier, str(r.runs), str(r.built), str(r.reused),
             str(r.failed + r.cancelled),
             f"{r.smoke_failed}/{r.smoke_passed + r.smoke_failed}"
             if r.smoke_passed + r.smoke_failed else "-",
             format_duration(r.median_s), format_duration(r.last_s)) for r in rows]


def warnings(stats: Stats) -> list[str]:
    """Failed cache imports, said plainly: one line per image, at most five, then a count."""
    failed = [r for r in stats.images if r.import_failures]
    out = [f"{r.name}: cache import failed in {r.import_failures} of {r.built} build(s): "
           f"{r.last_warning}" for r in failed[:5]]
    if len(failed) > 5:
        out.append(f"... and {len(failed) - 5} more image(s) with failed cache imports "
                   "(see --json)")
    return out


# -- per-tier trend over the last runs ---------------------------------------------------------

@dataclass(frozen=True)
class Trend:
    """Per tier, its build time in each of the last runs (oldest first): from its first image's
    start to its last image's end, over the images built (None: nothing of it built then)."""

    runs: tuple[str, ...]                                 # run ids (or start times)
    starts: tuple[float, ...]                             # each run's first start (Unix)
    tiers: tuple[tuple[str, tuple[float | None, ...]], ...]

    def to_json(self) -> dict[str, object]:
        return {"runs": list(self.runs),
                "tiers": {t: list(v) for t, v in self.tiers}}


def group_runs(history: Iterable[Mapping[str, object]]) -> list[list[Mapping[str, object]]]:
    """The history's lines, run by run, in order. Lines written before runs had ids: one run
    is the lines whose start falls within the time the run's lines so far span."""
    runs: list[list[Mapping[str, object]]] = []
    keys: list[str] = []
    span_end = -1.0
    for h in history:
        if "image" not in h:
            continue
        key = str(h.get("run") or "")
        start = _num(h.get("start"))
        if key:
            fits = bool(keys) and keys[-1] == key
        else:
            fits = bool(keys) and not keys[-1] and start <= span_end + 5.0
        if not fits:
            runs.append([])
            keys.append(key)
            span_end = start
        runs[-1].append(h)
        span_end = max(span_end, start + _num(h.get("duration_s")))
    return runs


def trend(history: Iterable[Mapping[str, object]], tier_order: Iterable[str] = (),
          last: int = 10) -> Trend:
    """Each tier's build time over the last `last` runs that built something."""
    built_runs = [r for r in group_runs(history)
                  if any(h.get("result") == "built" for h in r)][-last:]
    order = {t: i for i, t in enumerate(tier_order)}
    tiers = sorted({str(h.get("tier", "?")) for r in built_runs for h in r},
                   key=lambda t: (order.get(t, len(order)), t))
    series: list[tuple[str, tuple[float | None, ...]]] = []
    for t in tiers:
        values: list[float | None] = []
        for r in built_runs:
            rows = [h for h in r if h.get("result") == "built" and str(h.get("tier")) == t]
            if not rows:
                values.append(None)
                continue
            start = min(_num(h.get("start")) for h in rows)
            end = max(_num(h.get("start")) + _num(h.get("duration_s")) for h in rows)
            values.append(round(end - start, 3))
        if any(v is not None for v in values):
            series.append((t, tuple(values)))
    ids = tuple(str(r[0].get("run") or "") or f"{_num(r[0].get('start')):.0f}"
                for r in built_runs)
    starts = tuple(min(_num(h.get("start")) for h in r) for r in built_runs)
    return Trend(ids, starts, tuple(series))


_SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: Iterable[float | None]) -> str:
    """One character per run, its height the value against the highest; '·' for none."""
    vs = list(values)
    top = max([v for v in vs if v is not None], default=0.0)
    return "".join("·" if v is None else
                   _SPARK[min(int(v / top * (len(_SPARK) - 1) + 0.5), len(_SPARK) - 1)]
                   if top else _SPARK[0] for v in vs)


def trend_rows(tr: Trend) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    header = ("tier", "runs built", "median", "last", f"trend (last {len(tr.runs)} runs)")
    rows: list[tuple[str, ...]] = []
    for tier, values in tr.tiers:
        got = [v for v in values if v is not None]
        rows.append((tier, f"{len(got)}/{len(values)}",
                     format_duration(statistics.median(got)) if got else "-",
                     format_duration(values[-1]), sparkline(values)))
    return header, rows
