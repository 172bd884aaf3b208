"""The timings page: self-contained, and in a real browser (headless Chromium) every image's
bar drawn, widths following durations, no console error, no request leaving the file."""

from __future__ import annotations

import re
from pathlib import Path

from buildorch.render.timings import page
from buildorch.running.timeline import Timeline, fold
from tests.render.browser import check_timings_page
from tests.render.streams import diamond_run, wide_run


def phases(tl: Timeline) -> dict[str, dict[str, float]]:
    return {i.name: {p: b - a for p, a, b in i.phases()} for i in tl.images}


def test_the_page_needs_no_network() -> None:
    html = page(fold(diamond_run()), "r1")
    assert html.startswith("<!DOCTYPE html>")
    # nothing fetched: no src/href to anything, no @import, no url(), no font face
    assert not re.search(r"\b(src|href)\s*=|@import|url\(|@font-face|https?://(?!www\.w3)",
                         html), re.findall(r".{40}(?:src|href|url\(|https?://).{40}", html)


def test_the_page_says_the_totals_the_cache_hits_and_the_critical_path() -> None:
    html = page(fold(diamond_run()), "r1")
    assert "critical path</td><td>3.0s: base → b" in html
    assert "1/2 cached" in html               # base's cache hits beside its bar
    assert "2 built, 1 reused, 1 failed, 1 skipped" in html
    assert html.count('data-critical="1"') == 2
    assert "RUN false: exit code: 1" in html   # b's reason in the table


def test_in_a_browser_every_bar_is_drawn_to_scale(tmp_path: Path) -> None:
    tl = fold(diamond_run())
    path = tmp_path / "run.html"
    path.write_text(page(tl, "r1"))
    check_timings_page(path, phases(tl), tl.critical)


def test_in_a_browser_two_hundred_images(tmp_path: Path) -> None:
    tl = fold(wide_run(200))
    path = tmp_path / "big.html"
    path.write_text(page(tl, "big"))
    check_timings_page(path, phases(tl), tl.critical)
