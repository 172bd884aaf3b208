"""A run as a Chrome trace (`--trace`; Perfetto and chrome://tracing open it): one track per
job slot, one span per image, its BuildKit steps as child spans (cached ones marked), its smoke
check as a child span too. Times in microseconds from the run's start."""

from __future__ import annotations

from buildorch.running.timeline import Timeline

_PID = 1


def _us(seconds: float) -> int:
    return round(seconds * 1_000_000)


def trace(tl: Timeline) -> dict[str, object]:
    events: list[dict[str, object]] = [
        {"ph": "M", "name": "process_name", "pid": _PID, "tid": 0,
         "args": {"name": "buildorch run"}}]
    slots = sorted({i.slot for i in tl.images if i.slot is not None})
    for slot in slots:
        events.append({"ph": "M", "name": "thread_name", "pid": _PID, "tid": slot,
                       "args": {"name": f"job slot {slot}"}})
        events.append({"ph": "M", "name": "thread_sort_index", "pid": _PID, "tid": slot,
                       "args": {"sort_index": slot}})
    for i in tl.images:
        if i.started is None or i.slot is None:
            continue
        start, end = _us(i.started), _us(i.ended)
        events.append({
            "ph": "X", "name": i.name, "cat": f"image,{i.outcome}", "pid": _PID,
            "tid": i.slot, "ts": start, "dur": end - start,
            "args": {"tier": i.tier, "outcome": i.outcome, "steps": i.step_count,
                     "cached_steps": i.cached_steps, "waited_for_parent_s":
                         round(i.duration("waiting"), 3),
                     "queued_for_slot_s": round(i.duration("queued"), 3),
                     **({"reason": i.reason} if i.reason else {})}})
        # Children on one track must nest: BuildKit runs some vertices side by side, so each
        # starts no earlier than the previous one ended (its own times are in args).
        cursor = start
        build_end = _us(i.build_end) if i.build_end is not None else end
        for s in sorted(i.steps, key=lambda s: (s.start, s.end)):
            a = min(max(_us(s.start), cursor), build_end)
            b = min(max(_us(s.end), a), build_end)
            events.append({
                "ph": "X", "name": ("CACHED " if s.cached else "") + s.name,
                "cat": "step,cached" if s.cached else "step", "pid": _PID, "tid": i.slot,
                "ts": a, "dur": b - a,
                "args": {"cached": s.cached, "error": s.error,
                         "engine_start_s": round(s.start, 6),
                         "engine_end_s": round(s.end, 6)}})
            cursor = b
        if i.build_end is not None and end > build_end:
            events.append({"ph": "X", "name": "smoke check", "cat": "smoke", "pid": _PID,
                           "tid": i.slot, "ts": build_end, "dur": end - build_end,
                           "args": {}})
    return {"traceEvents": events, "displayTimeUnit": "ms",
            "otherData": {"tool": "buildorch", "jobs": tl.jobs,
                          "critical_path": list(tl.critical)}}
