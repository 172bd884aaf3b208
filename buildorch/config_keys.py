"""Every services.toml key, declared once: its type, default, check and one-line doc.

`config.py` parses with these declarations (into its frozen dataclasses), `validate` reports
their messages, and `buildorch.schema` renders the docs reference and the JSON Schema from
them. Adding a key is one `Key(...)` line in its table below (then `buildorch schema --output
schema/services.schema.json`), plus the field of the dataclass the code reads it from: a
tier key fills `Tier`'s field of the same name by itself; `Config`'s and `Image`'s are passed
by name in config.py. The choices users type (cache kinds, cleanup policies, progress modes)
live here too, so the command line and `doctor` offer exactly what services.toml accepts.

This module is on every command's start-up path, so it is made of plain classes with
`__slots__`, never mutated: a dataclass costs ~0.35 ms to create and a typed NamedTuple
~0.1 ms (both generate code at import). The JSON Schema fragments are methods, called only by
`buildorch.schema`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from buildorch.units import parse_duration, parse_size

# --- the choices ------------------------------------------------------------------------------

CACHE_SOURCES = ("local", "registry", "gha", "image")
CACHE_SINKS = ("local", "registry", "gha", "inline")
CLEANUP_POLICIES = ("none", "basic", "standard", "conservative")
# `buildorch clean --policy`: a tier's policies (but "none") and the last resort.
CLEAN_POLICIES = (*CLEANUP_POLICIES[1:], "emergency")
PROGRESS_MODES = ("auto", "rich", "plain", "json")
HEALTHCHECK = "healthcheck"        # smoke = "healthcheck": wait for the image's HEALTHCHECK

# Docker's reference grammar (distribution/reference): lower-case path components separated by
# '/', each made of alphanumerics joined by '.', '_', '__' or runs of '-'. Every pattern is
# also valid ECMAScript, so the JSON Schema carries the same text.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN = rf"{_LABEL}(?:\.{_LABEL})*"
REGISTRY_RE = re.compile(
    rf"^(?:{_DOMAIN}(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*$|^{_DOMAIN}:[0-9]+$")
ARG_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# What a FROM, COPY --from or RUN --mount from= may name as a build context (`contexts`).
CONTEXT_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._/:@-]*$")
# A tagged image reference (no digest), for editors: dockerlang/reference.py stays the judge.
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
REFERENCE_RE = re.compile(
    rf"^(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?/)?"
    rf"{_COMPONENT}(?:/{_COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?$")
# What units.parse_duration and parse_size accept, for editors (the parsers stay the judges:
# a zero duration matches here and is refused there).
DURATION_PATTERN = r"^\s*(?:[0-9]+(?:\.[0-9]+)?(?:[mM][sS]|[hHmMsS]))+\s*$"
SIZE_PATTERN = r"^\s*[0-9]+(?:\.[0-9]+)?\s*(?:[kKmMgGtT][iI]?[bB]|[bB])?\s*$"


def close_matches(word: str, choices: list[str] | tuple[str, ...], cutoff: float = 0.6
                  ) -> list[str]:
    """The closest of `choices` to `word` (at most one), for did-you-mean hints. difflib is
    imported only here, when a hint is wanted: never on a run with a valid file."""
    import difflib

    return difflib.get_close_matches(word, choices, n=1, cutoff=cutoff)


def hint(key: str, valid: tuple[str, ...]) -> str:
    close = close_matches(key, valid, cutoff=0.5)
    if close:
        return f"did you mean {close[0]!r}?"
    return "valid keys: " + ", ".join(valid)


class Invalid(ValueError):
    """A value its key refuses; the message is the whole problem (one per line)."""


# --- the types --------------------------------------------------------------------------------
# Each type checks a TOML value (returning what the code holds) and describes itself for the
# reference (`name`) and the JSON Schema (`schema()`).

class Text:
    """A non-empty string (or any, with `empty`), optionally matching `pattern`."""

    __slots__ = ("empty", "max_length", "pattern")
    name = "string"

    def __init__(self, pattern: re.Pattern[str] | None = None, max_length: int | None = None,
                 empty: bool = False) -> None:
        self.pattern, self.max_length, self.empty = pattern, max_length, empty

    def check(self, key: str, value: object) -> object:
        if (not isinstance(value, str) or (not value and not self.empty)
                or (self.pattern is not None and not self.pattern.match(value))
                or (self.max_length is not None and len(value) > self.max_length)):
            raise Invalid(f"{key} = {value!r} must be a non-empty string (or leave it out)")
        return value

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string", "minLength": 0 if self.empty else 1}
        if self.pattern is not None:
            out["pattern"] = self.pattern.pattern
        if self.max_length is not None:
            out["maxLength"] = self.max_length
        return out


class Path:
    """A path relative to services.toml (resolved against the repository by config.py)."""

    __slots__ = ()
    name = "path"

    def check(self, key: str, value: object) -> object:
        if not isinstance(value, str) or not value:
            raise Invalid(f"{key} = {value!r} must be a non-empty string path, relative to "
                          "services.toml")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "minLength": 1}


class Whole:
    __slots__ = ("minimum",)

    def __init__(self, minimum: int = 1) -> None:
        self.minimum = minimum

    @property
    def name(self) -> str:
        return f"whole number >= {self.minimum}"

    def check(self, key: str, value: object) -> object:
        if not isinstance(value, int) or isinstance(value, bool) or value < self.minimum:
            raise Invalid(f"{key} = {value!r} must be a whole number >= {self.minimum}")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.minimum}


class Duration:
    __slots__ = ()
    name = 'duration ("20m", "1h30m", "45s")'

    def check(self, key: str, value: object) -> object:
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise Invalid(f"{key}: {exc}") from None

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": DURATION_PATTERN}


class Size:
    __slots__ = ()
    name = 'size ("4GB", "500MiB", or bytes)'

    def check(self, key: str, value: object) -> object:
        try:
            return parse_size(value)
        except ValueError as exc:
            raise Invalid(f"{key}: {exc}") from None

    def schema(self) -> dict[str, Any]:
        return {"oneOf": [{"type": "integer", "minimum": 0},
                          {"type": "string", "pattern": SIZE_PATTERN}]}


class Choice:
    """One of `choices`; `noun` names what it is in the message ("is not a policy")."""

    __slots__ = ("choices", "noun")
    name = "string"

    def __init__(self, choices: tuple[str, ...], noun: str) -> None:
        self.choices, self.noun = choices, noun

    def check(self, key: str, value: object) -> object:
        if value not in self.choices:
            raise Invalid(f"{key} = {value!r} is not a {self.noun}; "
                          f"{hint(str(value), self.choices)}")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.choices)}


class Strings:
    """A list of strings; with `choices`, each one of them (named `noun` in the message)."""

    __slots__ = ("choices", "noun")
    name = "list of strings"

    def __init__(self, choices: tuple[str, ...] = (), noun: str = "") -> None:
        self.choices, self.noun = choices, noun

    def check(self, key: str, value: object) -> object:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise Invalid(f"{key} = {value!r} must be a list of strings, like {key} = [\"…\"]")
        bad = [v for v in value if self.choices and v not in self.choices]
        if bad:
            raise Invalid("\n".join(f"{key}: unknown {self.noun} {v!r}; {hint(v, self.choices)}"
                                    for v in bad))
        return tuple(value)

    def schema(self) -> dict[str, Any]:
        item: dict[str, Any] = {"type": "string"}
        if self.choices:
            item["enum"] = list(self.choices)
        return {"type": "array", "items": item}


class BuildArgs:
    """`{ NAME = "value" }`: build-arg names, string or number values (held as strings)."""

    __slots__ = ()
    name = "table of build args"

    def check(self, key: str, value: object) -> object:
        if not isinstance(value, dict):
            raise Invalid(f"{key} = {value!r} must be a table, like "
                          "args = { PYTHON_VERSION = \"3.11\" }")
        problems, args = [], []
        for k, v in value.items():
            if not ARG_NAME_RE.match(k):
                problems.append(f"{key}: {k!r} is not a valid build-arg name: use letters, "
                                "digits and '_', not starting with a digit")
            elif isinstance(v, bool) or not isinstance(v, str | int | float):
                problems.append(f"{key}.{k} = {v!r} must be a string or a number, like "
                                f"{k} = \"1\"")
            else:
                args.append((k, str(v)))
        if problems:
            raise Invalid("\n".join(problems))
        return tuple(sorted(args))

    def schema(self) -> dict[str, Any]:
        return {"type": "object", "propertyNames": {"pattern": ARG_NAME_RE.pattern},
                "additionalProperties": {"type": ["string", "number"]}}


class Command:
    """`["cmd", "arg"…]` (an argv) or "healthcheck": the argv, () for healthcheck."""

    __slots__ = ()
    name = f'command list or "{HEALTHCHECK}"'

    def check(self, key: str, value: object) -> object:
        if value == HEALTHCHECK:
            return ()
        if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
            return tuple(value)
        if isinstance(value, str):
            close = close_matches(value, [HEALTHCHECK], cutoff=0.6)
            words = value.split() or ["sh", "-c", "true"]
            argv = "[" + ", ".join(f'"{w}"' for w in words) + "]"
            said = (f'did you mean "{HEALTHCHECK}"?' if close else
                    f"write a command as a list, e.g. {key} = {argv}, or "
                    f'{key} = "{HEALTHCHECK}"')
            raise Invalid(f"{key} = {value!r} is neither a command list nor "
                          f'"{HEALTHCHECK}"; {said}')
        raise Invalid(f'{key} must be a non-empty list of strings like ["python", "-c", '
                      f'"import app"] or "{HEALTHCHECK}"')

    def schema(self) -> dict[str, Any]:
        return {"oneOf": [{"const": HEALTHCHECK},
                          {"type": "array", "minItems": 1,
                           "items": {"type": "string", "minLength": 1}}]}


class References:
    """A list of image references as Docker reads them (`org/base:4.1.2`), each with a tag or
    none (then `latest`), never a digest: a build can only be tagged."""

    __slots__ = ()
    name = "list of image references"

    def check(self, key: str, value: object) -> object:
        from buildorch.dockerlang.reference import parse

        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise Invalid(f"{key} = {value!r} must be a list of image references, like "
                          f'{key} = ["org/base:4.1.2", "org/base:latest"]')
        problems: list[str] = []
        for ref in value:
            try:
                if parse(ref).digest:
                    problems.append(f"{key}: {ref!r} names a digest: a build can only be "
                                    "tagged; drop the @… part")
            except ValueError as exc:
                problems.append(f"{key}: {ref!r} is not an image reference ({exc}); write it "
                                'like "org/base:4.1.2"')
        if problems:
            raise Invalid("\n".join(problems))
        return tuple(dict.fromkeys(value))

    def schema(self) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "string", "pattern": REFERENCE_RE.pattern}}


class Labels:
    """`{ "org.opencontainers.image.version" = "1.0" }`: label keys, string or number values
    (held as strings, sorted)."""

    __slots__ = ()
    name = "table of labels"

    def check(self, key: str, value: object) -> object:
        if not isinstance(value, dict):
            raise Invalid(f"{key} = {value!r} must be a table, like {key} = "
                          '{ "org.opencontainers.image.version" = "1.0" }')
        problems, labels = [], []
        for k, v in value.items():
            if not k or isinstance(v, bool) or not isinstance(v, str | int | float):
                problems.append(f"{key}.{k} = {v!r} must be a string or a number")
            else:
                labels.append((k, str(v)))
        if problems:
            raise Invalid("\n".join(problems))
        return tuple(sorted(labels))

    def schema(self) -> dict[str, Any]:
        return {"type": "object", "propertyNames": {"minLength": 1},
                "additionalProperties": {"type": ["string", "number"]}}


def context_kind(value: str) -> tuple[str, str]:
    """("image", REF) | ("target", IMAGE) | ("path", folder) of a `contexts` value."""
    if value.startswith("docker-image://"):
        return "image", value[len("docker-image://"):]
    if value.startswith("target:"):
        return "target", value[len("target:"):]
    return "path", value


class Contexts:
    """`{ NAME = "path" | "docker-image://REF" | "target:IMAGE" }`: each NAME is what a FROM,
    COPY --from or RUN --mount from= names (held as sorted pairs, values as written: config.py
    resolves a folder inside the repository and checks a `target:` names another image)."""

    __slots__ = ()
    name = "table of named build contexts"

    def check(self, key: str, value: object) -> object:
        if not isinstance(value, dict):
            raise Invalid(f"{key} = {value!r} must be a table, like "
                          f'{key} = {{ shared = "../shared" }}')
        out, problems = self.entries(key, value)
        if problems:
            raise Invalid("\n".join(problems))
        return out

    @staticmethod
    def entries(key: str, value: Mapping[str, object]
                ) -> tuple[tuple[tuple[str, str], ...], list[str]]:
        """The valid entries (sorted) and one problem per invalid one: config.py keeps the
        valid ones when another is refused, so that each is still checked as a path."""
        problems, out = [], []
        for name, raw in value.items():
            if not CONTEXT_NAME_RE.match(name):
                problems.append(f"{key}: {name!r} is not a valid context name: use what the "
                                "Dockerfile names (lower-case letters, digits, '.', '_', '-', "
                                "'/', ':')")
            elif not isinstance(raw, str) or not raw:
                problems.append(f"{key}.{name} = {raw!r} must be a path, "
                                '"docker-image://REF" or "target:IMAGE"')
            elif context_kind(raw)[0] != "path" and not context_kind(raw)[1]:
                problems.append(f"{key}.{name} = {raw!r} names nothing after the prefix")
            elif context_kind(raw)[0] == "path" and "://" in raw:
                problems.append(f"{key}.{name} = {raw!r}: only a folder, "
                                '"docker-image://REF" or "target:IMAGE" are supported')
            else:
                out.append((name, raw))
        return tuple(sorted(out)), problems

    def schema(self) -> dict[str, Any]:
        # a folder (no scheme), or docker-image:// / target: naming something
        value = (r"^(?:docker-image://[\s\S]|target:[\s\S]"
                 r"|(?!docker-image://|target:)(?![\s\S]*://)[\s\S])")
        return {"type": "object", "propertyNames": {"pattern": CONTEXT_NAME_RE.pattern},
                "additionalProperties": {"type": "string", "pattern": value}}


Type = (Text | Path | Whole | Duration | Size | Choice | Strings | BuildArgs | Command
        | References | Labels | Contexts)


# --- the keys ---------------------------------------------------------------------------------

class Key:
    """One key: `default` is as a user writes it in services.toml (None: not set), and the
    code's default is that through `type.check`, so it is written once, here. `default_doc`
    says a default that is not a constant (`factory` computes it); `message` replaces the
    type's message for this key ({key}, {value!r} and the fields `read` is given filled in)."""

    __slots__ = ("default", "default_doc", "doc", "factory", "message", "name", "type")

    def __init__(self, name: str, type: Type, doc: str, default: object = None, *,
                 default_doc: str | None = None, message: str | None = None,
                 factory: Callable[[], object] | None = None) -> None:
        self.name, self.type, self.doc, self.default = name, type, doc, default
        self.default_doc, self.message, self.factory = default_doc, message, factory

    def __repr__(self) -> str:
        return f"Key({self.name!r}, {self.type.name!r}, default={self.default!r})"

    def parse(self, value: object, fields: Mapping[str, str] | None = None) -> object:
        try:
            return self.type.check(self.name, value)
        except Invalid:
            if self.message is None:
                raise
            raise Invalid(self.message.format(key=self.name, value=value, **(fields or {}))
                          ) from None

    @property
    def value(self) -> Any:
        """The default as the code holds it."""
        if self.factory is not None:
            return self.factory()
        return None if self.default is None else self.type.check(self.name, self.default)


class Table:
    """A TOML table of services.toml: `[project]`, or one like `[tiers.NAME]`."""

    __slots__ = ("doc", "keys", "names", "path")

    def __init__(self, path: str, doc: str, keys: tuple[Key, ...]) -> None:
        self.path, self.doc, self.keys = path, doc, keys     # path: "project", "tiers.NAME"
        self.names = tuple(k.name for k in keys)

    def key(self, name: str) -> Key:
        for k in self.keys:
            if k.name == name:
                return k
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        return {k.name: k.value for k in self.keys}


def read(table: Table, data: Mapping[str, Any], add: Callable[[str], None],
         fields: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Each key of `table` parsed from `data` (the default when absent or invalid); unknown
    keys and invalid values are passed to `add`, one line each. `fields` fill in the keys'
    own messages."""
    for key in data:
        if key not in table.names:
            add(f"unknown key {key!r}; {hint(key, table.names)}")
    out: dict[str, Any] = {}
    for k in table.keys:
        raw = data.get(k.name)
        if raw is None:
            out[k.name] = k.value
            continue
        try:
            out[k.name] = k.parse(raw, fields)
        except Invalid as exc:
            for line in str(exc).splitlines():
                add(line)
            out[k.name] = k.value
    return out


PROJECT = Table("project", "What every image shares: where it is pushed, its tag, concurrency.", (
    Key("registry", Text(REGISTRY_RE), "Registry and namespace images are named under; "
        "none: bare names, loaded into the engine only.",
        message="registry {value!r} is not a valid registry/namespace like \"ghcr.io/acme\" "
                "or \"127.0.0.1:5000\""),
    Key("tag", Text(TAG_RE), "The tag of every image.", "latest",
        message="tag {value!r} is not a valid image tag (letters, digits, '_', '.', '-')"),
    Key("context", Text(empty=True), "Default build context of every image, relative to "
        "services.toml.", ".",
        message="context = {value!r} must be a string path, like context = \".\""),
    Key("jobs", Whole(), "Images built at once.", default_doc="min(4, CPU count)",
        factory=lambda: min(4, os.cpu_count() or 1)),
    Key("platform", Text(), "Default target platform (e.g. \"linux/amd64\"); none: the "
        "engine's own."),
    Key("compose", Strings(), "Compose files whose services `watch --up` restarts, relative "
        "to services.toml, in override order; none: the compose project `init` finds.", []),
))

CACHE = Table("cache", "Where build caches are read from and written to.", (
    Key("from", Strings(CACHE_SOURCES, "cache source"), "Cache sources, tried in order "
        "(\"image\": the image's own previous tag).", ["local", "registry", "gha"]),
    Key("to", Strings(CACHE_SINKS, "cache destination"), "Cache destinations, each exported "
        "where the builder can (`build --cache-to` replaces them).", ["local"]),
    Key("local_max_size", Size(), "Bound of all images' local caches (.buildorch/cache): the "
        "least recently written go first; 0: no bound.", "2GB"),
))

TIER = Table("tiers.NAME", "A tier's policy: time bounds, concurrency, disk and builder.", (
    Key("timeout", Duration(), "Bound of each image's whole build.", "40m"),
    Key("step_timeout", Duration(), "Bound of any single BuildKit step; none: only "
        "`timeout`."),
    Key("max_parallel", Whole(), "Images of this tier built at once; none: `jobs`."),
    Key("min_free", Size(), "Free disk needed before a build starts; below it, `cleanup` "
        "runs.", 0),
    Key("cleanup", Choice(CLEANUP_POLICIES, "policy"), "What the disk guard may remove when "
        "free space is short.", "none"),
    Key("builder", Text(), "The buildx builder of this tier's images; none: the current one."),
    Key("smoke_timeout", Duration(), "Bound of each smoke check of the tier's images.", "60s"),
))



def _image_keys(tier: str) -> tuple[Key, ...]:
    return (
        Key("tier", Text(empty=True), "The tier the image belongs to.", tier,
            message="tier must be a string naming a tier{known}"),
        Key("dockerfile", Path(), "The Dockerfile, relative to services.toml.",
            default_doc="Dockerfile at the context's root"),
        Key("context", Path(), "The build context, relative to services.toml.",
            default_doc="[project] context"),
        Key("target", Text(), "The Dockerfile stage to build; none: the last."),
        Key("args", BuildArgs(), "Build args, like { PYTHON_VERSION = \"3.11\" }.", {}),
        Key("depends_on", Strings(), "Images to build first, beyond those its FROM lines name.",
            []),
        Key("inputs", Strings(), "Extra inputs (gitignore patterns, relative to services.toml) "
            "whose change makes the image stale.", []),
        Key("ignore", Strings(), "Files of the context that never make the image stale "
            "(gitignore patterns).", []),
        Key("platform", Text(), "Target platform; none: [project] platform."),
        Key("smoke", Command(), "A check of each fresh build: a command run in the image, or "
            f'"{HEALTHCHECK}" to wait for its HEALTHCHECK.'),
        Key("tags", References(), "The image's own references, all built, loaded and pushed; "
            "a FROM naming any of them builds on this image; none: "
            "{registry}/{name}:{tag}. No two images may share one.", []),
        Key("labels", Labels(), "Image labels (--label), counted in the image's digest: a "
            "change rebuilds it.", {}),
        Key("contexts", Contexts(), "Named build contexts (`--build-context NAME=…`): a "
            "folder, `docker-image://REF`, or `target:IMAGE` (a configured image, built first "
            "and pinned).", {}),
    )


BASE = Table("base.NAME", "A base image: one other images build FROM.", _image_keys("base"))
SERVICE = Table("services.NAME", "A service image.", _image_keys("services"))

TOP_KEYS = ("project", "cache", "tiers", "base", "services")
TABLES = (PROJECT, CACHE, TIER, BASE, SERVICE)
