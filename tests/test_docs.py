"""The docs build's own checks (docs/hooks.py): cited documents exist, nothing loads from the
network. mkdocs itself is not needed: the checks are plain functions over files."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def _hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_document_the_code_cites_exists() -> None:
    assert _hooks().missing_citations(ROOT) == []


def test_a_missing_page_a_design_md_and_a_readme_citation_are_each_named(tmp_path: Path) -> None:
    (tmp_path / "docs" / "how-to").mkdir(parents=True)
    (tmp_path / "docs" / "how-to" / "disk.md").write_text("# Disk\n")
    (tmp_path / "buildorch").mkdir()
    (tmp_path / "buildorch" / "a.py").write_text(
        '"""See docs/how-to/disk.md.\n\nAnd docs/how-to/gone.md, and DESIGN.md, "X".\n"""\n'
        'MSG = "install Docker (see README)"\n'
        'FIXTURE = {"README.md": "a file name, not a citation"}\n')
    assert _hooks().missing_citations(tmp_path) == [
        "buildorch/a.py:3: cites DESIGN.md, which this repository does not have",
        "buildorch/a.py:3: cites docs/how-to/gone.md, which does not exist",
        "buildorch/a.py:5: cites the README: cite the docs page instead",
    ]


def test_a_page_that_loads_fonts_or_scripts_by_url_is_named(tmp_path: Path) -> None:
    (tmp_path / "ok.html").write_text(
        '<link rel="stylesheet" href="assets/main.css"><a href="https://example.org">x</a>')
    (tmp_path / "fonts.html").write_text(
        '<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">')
    (tmp_path / "cdn.html").write_text('<script src="//cdn.example.org/x.js"></script>')
    found = _hooks().external_loads(tmp_path)
    assert [line.split(":", 1)[0] for line in found] == ["cdn.html", "fonts.html"]


def test_the_event_reference_names_every_event_and_field() -> None:
    """docs/reference/events.md is what other tools parse against: each event kind of a build
    and of `watch`, with every field it carries, has its row."""
    import dataclasses
    import re

    from buildorch.ops.watch import Notice, RoundFinished, RoundStarted, Watching
    from buildorch.running.events import EVENT_TYPES

    rows = {}
    for line in (ROOT / "docs" / "reference" / "events.md").read_text().splitlines():
        m = re.match(r"\| `([a-z-]+)` \|(.*?)\| .* \|$", line)
        if m:
            rows[m.group(1)] = set(re.findall(r"`([a-z_]+)`", m.group(2)))
    base = {"image", "time"}
    for kind in (*EVENT_TYPES, Watching, RoundStarted, RoundFinished, Notice):
        assert kind.KIND in rows, kind.KIND
        own = {f.name for f in dataclasses.fields(kind)} - base
        assert own <= rows[kind.KIND], (kind.KIND, own - rows[kind.KIND])
