"""mkdocs hooks (mkdocs.yml `hooks:`): pages generated from the code, and checks that fail
`mkdocs build --strict` when the docs and the code drift apart.

* reference/services-toml.md is written at build time from `buildorch.schema`
  (`reference_markdown()`, and `json_schema()` published as /services.schema.json); until that
  module exists, from the key lists `buildorch.config` declares.
* Every document the code cites must exist: `docs/...` paths named in buildorch/, scripts/,
  the Makefile, .ci/ and the README, and no citation of a DESIGN.md (there is none) or of the
  README from the code (the README is a front page; the code points at docs pages).
* The built site loads nothing from the network (no fonts, scripts or stylesheets by URL).
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SERVICES_TOML_PAGE = "reference/services-toml.md"
SCHEMA_FILE = "services.schema.json"

_CITED_DOC = re.compile(r"\bdocs/[A-Za-z0-9_./-]+")
_DESIGN = re.compile(r"\bDESIGN\.md\b")
_README = re.compile(r"\bREADME\b")
# Where a document may be cited (docs/ itself is checked by mkdocs: links and nav).
_CODE = ("buildorch", "scripts", "Makefile", ".ci", "README.md")
_SUFFIXES = {".py", ".sh", ".toml", ".yml", ".yaml", ""}
# What a page may load: anything but a relative or same-site URL is fetched from the network.
_LOADED = re.compile(
    r"""<(?:script|img|iframe)[^>]*\ssrc=["'](?:https?:)?//"""
    r"""|<link[^>]*\shref=["'](?:https?:)?//[^"']*["'][^>]*>"""
    r"""|@import\s+(?:url\()?["']?(?:https?:)?//"""
    r"""|url\(["']?(?:https?:)?//""",
    re.IGNORECASE,
)


def _code_files(root: Path) -> list[Path]:
    found: list[Path] = []
    for name in _CODE:
        top = root / name
        if top.is_file():
            found.append(top)
        elif top.is_dir():
            found.extend(p for p in sorted(top.rglob("*"))
                         if p.is_file() and p.suffix in _SUFFIXES and "__pycache__" not in p.parts)
    return found


def missing_citations(root: Path = ROOT) -> list[str]:
    """Each citation in the code of a document that does not exist, as `file:line: what`."""
    problems: list[str] = []
    for path in _code_files(root):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        rel = path.relative_to(root).as_posix()
        for number, line in enumerate(text.splitlines(), 1):
            where = f"{rel}:{number}"
            if _DESIGN.search(line):
                problems.append(f"{where}: cites DESIGN.md, which this repository does not have")
            # The README as a place to read more (not a file name in a test fixture or glob).
            if rel.startswith(("buildorch/", "scripts/")) and _README.search(line) \
                    and "README.md" not in line:
                problems.append(f"{where}: cites the README: cite the docs page instead")
            for cited in _CITED_DOC.findall(line):
                target = root / cited.rstrip(".,:;)")
                if not target.exists():
                    problems.append(f"{where}: cites {cited}, which does not exist")
    return problems


def external_loads(site_dir: Path) -> list[str]:
    """Each built file that makes a browser fetch something from the network."""
    found: list[str] = []
    for path in sorted(site_dir.rglob("*")):
        if path.suffix not in (".html", ".css") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for m in _LOADED.finditer(text):
            found.append(f"{path.relative_to(site_dir).as_posix()}: {m.group(0)[:120]}")
    return found


def services_toml_reference() -> tuple[str, dict[str, Any] | None]:
    """The services.toml reference page, and the JSON Schema when the schema module has it."""
    try:
        schema = importlib.import_module("buildorch.schema")
    except ModuleNotFoundError as exc:
        if exc.name != "buildorch.schema":
            raise
        return _from_config(), None
    text: str = schema.reference_markdown()
    if not text.lstrip().startswith("# "):
        text = "# services.toml\n\n" + text
    json_schema = getattr(schema, "json_schema", None)
    return text, (json_schema() if json_schema is not None else None)


def _from_config() -> str:
    """Until `buildorch.schema` exists: the tables, keys and choices `buildorch.config`
    declares (names only: config.py has no per-key documentation to generate from)."""
    config = importlib.import_module("buildorch.config")

    def keys(names: tuple[str, ...]) -> str:
        return ", ".join(f"`{k}`" for k in names)

    def choices(names: tuple[str, ...]) -> str:
        return " · ".join(f'`"{k}"`' for k in names)

    lines = [
        "# services.toml",
        "",
        "Generated from the key lists `buildorch.config` declares. The annotated example in",
        "[Adopt a repository](../how-to/adopt.md#write-servicestoml-by-hand) shows each key",
        "with its meaning; `buildorch validate` reports every problem in a file, with a",
        "did-you-mean hint for a misspelt key.",
        "",
        "| table | keys |",
        "|---|---|",
        f"| `[project]` | {keys(config.PROJECT_KEYS)} |",
        f"| `[cache]` | {keys(config.CACHE_KEYS)} |",
        f"| `[tiers.NAME]` | {keys(config.TIER_KEYS)} |",
        f"| `[base.NAME]`, `[services.NAME]` | {keys(config.IMAGE_KEYS)} |",
        "",
        "## Choices",
        "",
        "| key | values |",
        "|---|---|",
        f"| `[cache] from` | {choices(config.CACHE_SOURCES)} |",
        f"| `[cache] to` (and `build --cache-to`) | {choices(config.CACHE_SINKS)} |",
        f"| `[tiers.NAME] cleanup` | {choices(config.CLEANUP_POLICIES)} |",
        f'| `smoke` | a command (a list of strings), or `"{config.HEALTHCHECK}"` |',
        "",
        "Durations are strings with a unit (`\"20m\"`, `\"1h30m\"`, `\"45s\"`, `\"500ms\"`; a",
        "bare number is refused). Sizes: `\"4GB\"` (10⁹ bytes), `\"4GiB\"` (2³⁰ bytes).",
        "",
        "## Tiers that need no table",
        "",
        "An image may name one of these tiers without a `[tiers.NAME]` table: it gets this",
        "policy (`tier-N` beyond 3 gets `tier-3`'s). `[base.*]` images default to the tier",
        "`base`, `[services.*]` images to `services`.",
        "",
        "| tier | policy |",
        "|---|---|",
    ]
    for tier, policy in config.SEED_TIERS.items():
        shown = ", ".join(f"`{k} = {json.dumps(v)}`" for k, v in policy.items())
        lines.append(f"| `{tier}` | {shown} |")
    return "\n".join(lines) + "\n"


# ---- mkdocs events ------------------------------------------------------------------------

def on_pre_build(config: Any) -> None:
    from mkdocs.exceptions import PluginError

    problems = missing_citations()
    if problems:
        raise PluginError("documents cited in the code are missing:\n  " + "\n  ".join(problems))


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    page, schema = services_toml_reference()
    files.append(File.generated(config, SERVICES_TOML_PAGE, content=page))
    if schema is not None:
        files.append(File.generated(config, SCHEMA_FILE,
                                    content=json.dumps(schema, indent=2) + "\n"))
    return files


def on_post_build(config: Any) -> None:
    from mkdocs.exceptions import PluginError

    loads = external_loads(Path(config["site_dir"]))
    if loads:
        raise PluginError("the site loads from the network (it must build and read offline):"
                          "\n  " + "\n  ".join(loads))
