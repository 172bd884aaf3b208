"""services.toml's JSON Schema and Markdown reference, rendered from the key declarations
(`config_keys`). Imported only by `buildorch schema`, the docs and the tests: a build never
loads it.

Editors that read Taplo's directive (Even Better TOML in VS Code, Taplo's CLI and LSP) check
and complete services.toml when its first line names the schema::

    #:schema ./schema/services.schema.json

(a path relative to services.toml, or a URL). `buildorch schema --output FILE` writes it.
"""

from __future__ import annotations

import json
from typing import Any

from buildorch.config_keys import (
    BASE,
    CACHE,
    NAME_RE,
    PROJECT,
    SERVICE,
    TABLES,
    TIER,
    TOP_KEYS,
    Choice,
    Key,
    Strings,
    Table,
)

_DEFS = {PROJECT.path: "project", CACHE.path: "cache", TIER.path: "tier", BASE.path: "base",
         SERVICE.path: "service"}


def _key(key: Key) -> dict[str, Any]:
    out = {"description": key.doc + (f" Default: {key.default_doc}." if key.default_doc
                                     else ""), **key.type.schema()}
    if key.default is not None:
        out["default"] = key.default
    return out


def _table(table: Table) -> dict[str, Any]:
    return {"type": "object", "description": table.doc, "additionalProperties": False,
            "properties": {k.name: _key(k) for k in table.keys}}


def json_schema() -> dict[str, Any]:
    """The JSON Schema of services.toml, in draft 7 (the draft TOML editors and SchemaStore
    support most widely)."""
    image_name = {"pattern": NAME_RE.pattern, "maxLength": 128}
    tops = {
        "project": {"$ref": "#/definitions/project"},
        "cache": {"$ref": "#/definitions/cache"},
        "tiers": {"type": "object", "description": "Tier policies, one [tiers.NAME] table "
                  "each.", "additionalProperties": {"$ref": "#/definitions/tier"}},
        "base": {"type": "object", "description": "Base images, one [base.NAME] table each.",
                 "propertyNames": image_name,
                 "additionalProperties": {"$ref": "#/definitions/base"}},
        "services": {"type": "object", "description": "Service images, one [services.NAME] "
                     "table each.", "propertyNames": image_name,
                     "additionalProperties": {"$ref": "#/definitions/service"}},
    }
    assert tuple(tops) == TOP_KEYS, "a top-level table without its schema"
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "buildorch services.toml",
        "description": "The images of a repository, their tiers and caches: what "
                       "`buildorch plan` and `buildorch build` read.",
        "type": "object",
        "additionalProperties": False,
        "properties": tops,
        "definitions": {_DEFS[t.path]: _table(t) for t in TABLES},
    }


def json_text() -> str:
    """The schema as the committed file holds it (schema/services.schema.json)."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def _md(value: object) -> str:
    return "`" + json.dumps(value, ensure_ascii=False).replace("`", "'") + "`"


def _allowed(key: Key) -> str:
    t = key.type
    if isinstance(t, Choice | Strings) and t.choices:
        return ", ".join(f"`{c}`" for c in t.choices)
    return ""


def reference_markdown() -> str:
    """Every table and key of services.toml: type, default, allowed values, one-line doc."""
    out = ["# services.toml reference", "",
           "Generated from buildorch's key declarations (`buildorch/config_keys.py`); "
           "`buildorch schema` prints the same as a JSON Schema. Paths are relative to "
           "services.toml. Durations are strings like `\"20m\"`, `\"1h30m\"`, `\"45s\"`, "
           "`\"500ms\"` (a bare number is refused); sizes are `\"4GB\"` (10⁹), `\"4GiB\"` "
           "(2³⁰) or a number of bytes.", "",
           "For completion and checks in editors that read Taplo's directive (Even Better "
           "TOML), make the first line of services.toml:", "",
           "```toml", "#:schema ./schema/services.schema.json", "```", "",
           "with the schema written there by `buildorch schema --output "
           "schema/services.schema.json` (or a URL where it is published). `buildorch init "
           "--schema PATH-OR-URL` writes that line at the top of the file it makes.", ""]
    for table in TABLES:
        out += [f"## `[{table.path}]`", "", table.doc, "",
                "| key | type | default | allowed | description |",
                "|---|---|---|---|---|"]
        for k in table.keys:
            default = (k.default_doc if k.default_doc is not None else
                       _md(k.default) if k.default is not None else "none")
            doc = k.doc.replace("|", "\\|")
            out.append(f"| `{k.name}` | {k.type.name} | {default} | {_allowed(k)} | {doc} |")
        out.append("")
    return "\n".join(out)
