"""Durations and sizes: parsed from services.toml and the command line, formatted for people.
One copy of each, used by config, the renderers, stats and the disk guard."""

from __future__ import annotations

import re

__all__ = ["format_duration", "format_size", "parse_duration", "parse_size"]

_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}


def parse_duration(text: object) -> float:
    """'20m', '1h30m', '45s', '500ms' -> seconds. A bare number is refused: `timeout = 5`
    reads as five minutes to some and five seconds to others."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        raise ValueError(f"{text!r} has no unit: write a duration string like "
                         f"\"{text}s\" or \"{text}m\"")
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a duration: write a string like \"20m\"")
    s = text.strip().lower()
    pos, total = 0, 0.0
    for m in _DURATION_RE.finditer(s):
        if m.start() != pos:
            break
        value, unit = float(m.group(1)), m.group(2)
        total += value * {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}[unit]
        pos = m.end()
    if pos != len(s) or not s or total <= 0:
        raise ValueError(f"{text!r} is not a duration like \"20m\", \"1h30m\" or \"45s\"")
    return total


def parse_size(text: object) -> int:
    """'4GB', '500MiB', '0' or a number of bytes -> bytes (GB is 10^9, GiB is 2^30)."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise ValueError("must not be negative")
        return text
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a size: write a string like \"4GB\"")
    m = _SIZE_RE.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a size like \"4GB\" or \"500MiB\"")
    unit = (m.group(2) or "B").lower()
    return int(float(m.group(1)) * _SIZE_UNITS[unit])


def format_duration(seconds: float | None) -> str:
    """12.3s below a minute, 4m05s above; '-' for no value."""
    if seconds is None:
        return "-"
    if seconds >= 60:
        m, s = divmod(round(seconds), 60)
        return f"{m}m{s:02d}s" if s else f"{m}m"
    return f"{seconds:.1f}s"


def format_size(n: float) -> str:
    """Decimal units, as Docker prints them: 512 B, 3.4 MB, 12.0 GB."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")
