"""services.toml -> a frozen Config. Every problem is collected, each one line naming the table."""

from __future__ import annotations

import difflib
import os
import re
import shlex
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from buildorch.errors import ConfigError
from buildorch.units import parse_duration, parse_size

CONFIG_NAME = "services.toml"
CLEANUP_POLICIES = ("none", "basic", "standard", "conservative")
CACHE_SOURCES = ("local", "registry", "gha", "image")
CACHE_SINKS = ("local", "registry", "gha", "inline")

PROJECT_KEYS = ("registry", "tag", "context", "jobs", "platform")
CACHE_KEYS = ("from", "to", "local_max_size")
TIER_KEYS = ("timeout", "step_timeout", "max_parallel", "min_free", "cleanup", "builder",
             "smoke_timeout")
IMAGE_KEYS = (
    "tier", "dockerfile", "context", "target", "args", "depends_on", "inputs", "ignore",
    "platform", "smoke", *("tags", "labels"),   # see "image references and labels" below
)
HEALTHCHECK = "healthcheck"        # smoke = "healthcheck": wait for the image's HEALTHCHECK
TOP_KEYS = ("project", "cache", "tiers", "base", "services")

# Docker's reference grammar (distribution/reference): lower-case path components separated by
# '/', each made of alphanumerics joined by '.', '_', '__' or runs of '-'.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN = rf"{_LABEL}(?:\.{_LABEL})*"
REGISTRY_RE = re.compile(
    rf"^(?:{_DOMAIN}(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*$|^{_DOMAIN}:[0-9]+$")
ARG_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

@dataclass(frozen=True)
class Tier:
    name: str
    timeout: float = 40 * 60.0
    step_timeout: float | None = None
    max_parallel: int | None = None
    min_free: int = 0
    cleanup: str = "none"
    builder: str | None = None
    smoke_timeout: float = 60.0    # bounds each smoke check of the tier's images


@dataclass(frozen=True)
class Smoke:
    """A check of a freshly built image: `argv` run in it (replacing its ENTRYPOINT and CMD),
    or, with no argv, the image started as it is until its HEALTHCHECK reports healthy."""

    argv: tuple[str, ...] = ()

    @property
    def healthcheck(self) -> bool:
        return not self.argv

    def describe(self) -> str:
        return HEALTHCHECK if self.healthcheck else shlex.join(self.argv)


# The seed's tier policies (build-and-ci-architecture.md, "Updated Timeout Configurations" and
# "Cleanup Patterns by Build Tier"): a tier an image names that services.toml does not declare
# gets them, and `buildorch init` writes them out. `base` is the zero-config tier of `[base.*]`
# images.
SEED_TIERS: dict[str, dict[str, object]] = {
    "foundation": {"timeout": "20m", "step_timeout": "20m", "cleanup": "basic"},
    "base": {"timeout": "30m", "step_timeout": "20m", "cleanup": "standard"},
    "tier-1": {"timeout": "30m", "step_timeout": "20m", "cleanup": "standard"},
    "tier-2": {"timeout": "50m", "step_timeout": "45m", "max_parallel": 2, "min_free": "4GB",
               "cleanup": "conservative"},
    "tier-3": {"timeout": "20m", "step_timeout": "20m", "cleanup": "standard"},
    "services": {"timeout": "40m", "cleanup": "standard"},
}
_TIER_N = re.compile(r"tier-([0-9]+)")
DEFAULT_TIER = {"base": "base", "service": "services"}   # image kind -> tier when none is given


def seed_policy(tier: str) -> dict[str, object]:
    """The seed's policy for a tier name: its own, tier-3's beyond tier 3, else none."""
    if tier in SEED_TIERS:
        return dict(SEED_TIERS[tier])
    m = _TIER_N.fullmatch(tier)
    return dict(SEED_TIERS["tier-3"]) if m and int(m.group(1)) > 3 else {}


def tier_rank(tier: str) -> tuple[int, int]:
    """Where an implicit tier sorts: base and foundation first, tier-N by N, services last."""
    if tier in ("foundation", "base"):
        return (0, 0 if tier == "foundation" else 1)
    m = _TIER_N.fullmatch(tier)
    if m:
        return (1, int(m.group(1)))
    return (3, 0) if tier == "services" else (2, 0)


@dataclass(frozen=True)
class Image:
    name: str
    kind: str                      # "base" | "service"
    tier: str
    dockerfile: str                # posix, relative to the repository root
    context: str                   # posix, relative to the repository root ("." for the root)
    target: str | None = None
    args: tuple[tuple[str, str], ...] = ()
    depends_on: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()   # gitignore-syntax patterns, relative to the repository root
    ignore: tuple[str, ...] = ()
    platform: str | None = None
    smoke: Smoke | None = None
    tags: tuple[str, ...] = ()     # its own references; () = {registry}/{name}:{tag}
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def table(self) -> str:
        return f"[{'base' if self.kind == 'base' else 'services'}.{self.name}]"


@dataclass(frozen=True)
class Config:
    path: Path                     # the services.toml file
    root: Path                     # repository root: git top level, else the file's folder
    registry: str | None
    tag: str
    jobs: int
    platform: str | None
    cache_from: tuple[str, ...]
    cache_to: tuple[str, ...]
    local_cache_max: int
    tiers: Mapping[str, Tier]
    images: Mapping[str, Image] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return self.path.parent / ".buildorch"

    @property
    def hidden(self) -> tuple[str, ...]:
        """Root-relative folders that are never inputs: the state folder, wherever
        services.toml lives."""
        try:
            return (self.state_dir.relative_to(self.root).as_posix(),)
        except ValueError:
            return ()

    def repository(self, name: str) -> str:
        return f"{self.registry}/{name}" if self.registry else name

    def ref(self, name: str) -> str:
        """The image's first reference: what the engine holds it under."""
        return self.refs(name)[0]

    def refs(self, name: str) -> tuple[str, ...]:
        """Every reference the image is built, loaded and pushed as: its `tags`, else the
        project's {registry}/{name}:{tag}."""
        image = self.images.get(name)
        return image.tags if image is not None and image.tags else \
            (f"{self.repository(name)}:{self.tag}",)


def find_root(start: Path) -> Path:
    """The git work tree holding `start`, found without running git (it is on the hot path)."""
    for d in (start, *start.parents):
        if (d / ".git").exists():
            return d
    return start


def find_config(start: Path) -> Path:
    for d in (start, *start.parents):
        candidate = d / CONFIG_NAME
        if candidate.is_file():
            return candidate
        if (d / ".git").exists():
            break
    from buildorch.errors import BuildorchError

    raise BuildorchError(
        f"no {CONFIG_NAME} found in {start} or its parents: create one "
        "(see README) or pass --config FILE"
    )


def _hint(key: str, valid: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    if close:
        return f"did you mean {close[0]!r}?"
    return "valid keys: " + ", ".join(valid)


@dataclass(frozen=True)
class _Checks:
    is_file: Callable[[str], bool]
    is_dir: Callable[[str], bool]
    # Where a root-relative path really leads (symlinks followed), when it leads outside the
    # root; None inside, and always None for a git commit's tree (nothing there to follow).
    escapes: Callable[[str], str | None] = lambda p: None


class _Collector:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[str] = []

    def add(self, table: str, message: str) -> None:
        self.problems.append(f"{self.path.name}: {table}: {message}")

    def keys(self, table: str, data: Mapping[str, Any], valid: tuple[str, ...]) -> None:
        for key in data:
            if key not in valid:
                self.add(table, f"unknown key {key!r}; {_hint(key, valid)}")

    def table(self, parent: str, key: str, value: object) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.add(f"[{parent}]" if parent else "top level",
                     f"{key!r} must be a table (write it as [{parent + '.' if parent else ''}"
                     f"{key}] with its keys below)")
            return {}
        return value


def load(path: Path) -> Config:
    """Read and validate services.toml; raise ConfigError listing every problem."""
    path = path.resolve()
    return parse(read_text(path), path)


def read_text(path: Path) -> str:
    """services.toml's text, or ConfigError with one line saying what is wrong and what to do."""
    try:
        raw = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: not found: create it or pass --config FILE"]) from None
    except UnicodeDecodeError as exc:
        line = raw_bytes_line(path, exc.start)
        raise ConfigError([f"{path}: not valid UTF-8 (byte {exc.start}, line {line}): "
                           "save it as UTF-8"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{path}: is a folder: pass the services.toml file itself"]) \
            from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror or exc}): check its "
                           "permissions or pass --config FILE"]) from None
    return raw


def raw_bytes_line(path: Path, offset: int) -> int:
    try:
        return path.read_bytes()[:offset].count(b"\n") + 1
    except OSError:
        return 0


def parse(
    text: str, path: Path, root: Path | None = None, *,
    is_file: Callable[[str], bool] | None = None, is_dir: Callable[[str], bool] | None = None,
) -> Config:
    """`is_file`/`is_dir` check root-relative paths (on disk unless given: a git commit's tree
    for `--since`). Raises ConfigError with every problem."""
    cfg, problems = parse_lenient(text, path, root, is_file=is_file, is_dir=is_dir)
    if problems:
        raise ConfigError(problems)
    return cfg


def parse_lenient(
    text: str, path: Path, root: Path | None = None, *,
    is_file: Callable[[str], bool] | None = None, is_dir: Callable[[str], bool] | None = None,
) -> tuple[Config, list[str]]:
    """The config made of what is valid, and every problem found (for `buildorch validate`)."""
    c = _Collector(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib says "... (at line L, column C)": keep it, it is what the user needs.
        raise ConfigError([f"{path.name}: TOML syntax error: {exc}; fix the file"]) from None
    root = root if root is not None else find_root(path.parent)
    base_dir = path.parent
    checks = _Checks(
        is_file or (lambda p: (root / p).is_file()), is_dir or (lambda p: (root / p).is_dir()),
        (lambda p: escapes(root, p)) if is_file is None else (lambda p: None))
    c.keys("top level", data, TOP_KEYS)

    project = c.table("", "project", data.get("project"))
    c.keys("[project]", project, PROJECT_KEYS)
    registry = project.get("registry")
    if registry is not None and (not isinstance(registry, str) or not REGISTRY_RE.match(registry)):
        c.add("[project]", f"registry {registry!r} is not a valid registry/namespace "
              "like \"ghcr.io/acme\" or \"127.0.0.1:5000\"")
        registry = None
    tag = project.get("tag", "latest")
    if not isinstance(tag, str) or not TAG_RE.match(tag):
        c.add("[project]", f"tag {tag!r} is not a valid image tag (letters, digits, '_', '.', '-')")
        tag = "latest"
    jobs = project.get("jobs", min(4, os.cpu_count() or 1))
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        c.add("[project]", f"jobs = {jobs!r} must be a whole number >= 1")
        jobs = 1
    platform = _opt_str(c, "[project]", "platform", project.get("platform"))
    default_context = project.get("context", ".")
    if not isinstance(default_context, str):
        c.add("[project]", f"context = {default_context!r} must be a string path, like "
              "context = \".\"")
        default_context = "."

    cache = c.table("", "cache", data.get("cache"))
    c.keys("[cache]", cache, CACHE_KEYS)
    cache_from = _str_list(c, "[cache]", "from", cache.get("from", ["local", "registry", "gha"]))
    cache_to = _str_list(c, "[cache]", "to", cache.get("to", ["local"]))
    for src in cache_from:
        if src not in CACHE_SOURCES:
            c.add("[cache]", f"from: unknown cache source {src!r}; {_hint(src, CACHE_SOURCES)}")
    for dst in cache_to:
        if dst not in CACHE_SINKS:
            c.add("[cache]", f"to: unknown cache destination {dst!r}; {_hint(dst, CACHE_SINKS)}")
    local_max = _size(c, "[cache]", "local_max_size", cache.get("local_max_size", "2GB")) or 0

    tiers: dict[str, Tier] = {}
    declared_tiers = dict(c.table("", "tiers", data.get("tiers")))
    implicit: dict[str, dict[str, object]] = {}
    # Tiers the images name without a [tiers.*] table: the seed's names get the seed's policies;
    # any name at all when there is no [tiers] table (a name close to a declared or seed tier
    # is taken for a typo and reported below).
    named = {str(t.get("tier", DEFAULT_TIER["base" if s == "base" else "service"]))
             for s in ("base", "services") if isinstance(data.get(s), dict)
             for t in data[s].values()
             if isinstance(t, dict) and isinstance(t.get("tier", ""), str)}
    for name in sorted((n for n in named if n not in declared_tiers),
                       key=tier_rank):
        known = name in SEED_TIERS or _TIER_N.fullmatch(name) is not None
        close = difflib.get_close_matches(name, [*declared_tiers, *SEED_TIERS], n=1, cutoff=0.8)
        if known or (not declared_tiers and not close):
            implicit[name] = seed_policy(name)
    for name, tdata in {**declared_tiers, **implicit}.items():
        table = f"[tiers.{name}]"
        if not isinstance(tdata, dict):
            c.table("tiers", name, tdata)
            tiers[name] = Tier(name=name)   # said once above; images naming it are fine
            continue
        t = c.table("tiers", name, tdata)
        c.keys(table, t, TIER_KEYS)
        timeout = _duration(c, table, "timeout", t.get("timeout", "40m")) or 2400.0
        step = _duration(c, table, "step_timeout", t.get("step_timeout"))
        maxp = t.get("max_parallel")
        if maxp is not None and (not isinstance(maxp, int) or isinstance(maxp, bool) or maxp < 1):
            c.add(table, f"max_parallel = {maxp!r} must be a whole number >= 1")
            maxp = None
        cleanup = t.get("cleanup", "none")
        if cleanup not in CLEANUP_POLICIES:
            c.add(table, f"cleanup = {cleanup!r} is not a policy; "
                  f"{_hint(str(cleanup), CLEANUP_POLICIES)}")
            cleanup = "none"
        tiers[name] = Tier(
            name=name, timeout=timeout, step_timeout=step, max_parallel=maxp,
            min_free=_size(c, table, "min_free", t.get("min_free", 0)) or 0,
            cleanup=cleanup, builder=_opt_str(c, table, "builder", t.get("builder")),
            smoke_timeout=_duration(c, table, "smoke_timeout", t.get("smoke_timeout", "60s"))
            or 60.0,
        )

    # `tiers = 5` was said once: images naming a tier are not wrong on top of it.
    tiers_said = not isinstance(data.get("tiers", {}), dict)
    images: dict[str, Image] = {}
    declared: set[str] = set()   # every image table, valid or not: depends_on may name them
    bad_sections = False         # `base = 5`: said once, not also as "no images"
    for kind, section in (("base", "base"), ("service", "services")):
        if not isinstance(data.get(section, {}), dict):
            bad_sections = True
        for name, idata in c.table("", section, data.get(section)).items():
            declared.add(name)
            table = f"[{section}.{name}]"
            if not isinstance(idata, dict):
                c.table(section, name, idata)   # one line; nothing more to say about it
                continue
            if name in images:
                c.add(table, f"image {name!r} is declared twice (also in "
                      f"{images[name].table}); rename one")
                continue
            image = _image(c, table, kind, name, idata, tiers, root, base_dir,
                           default_context, checks, tiers_said)
            if image is not None:
                images[name] = image
    if not declared and not bad_sections:   # an invalid table is said as such, once
        c.add("top level", "no images: add a [base.NAME] or [services.NAME] table")

    _claimed_tags(c, images, registry, tag)
    for image in images.values():
        for dep in image.depends_on:
            if dep not in declared:
                hint = difflib.get_close_matches(dep, list(images), n=1)
                c.add(image.table, f"depends_on names {dep!r}, which is not an image here"
                      + (f"; did you mean {hint[0]!r}?" if hint else
                         f"; remove it, or add a [base.{dep}] or [services.{dep}] table"))
            elif dep == image.name:
                c.add(image.table, "depends_on names the image itself; remove it")

    return Config(
        path=path, root=root, registry=registry, tag=tag, jobs=jobs, platform=platform,
        cache_from=tuple(cache_from), cache_to=tuple(cache_to), local_cache_max=local_max,
        tiers=tiers, images=images,
    ), c.problems


def _image(
    c: _Collector, table: str, kind: str, name: str, d: Mapping[str, Any],
    tiers: Mapping[str, Tier], root: Path, base_dir: Path, default_context: str,
    checks: _Checks, tiers_said: bool = False,
) -> Image | None:
    c.keys(table, d, IMAGE_KEYS)
    ok = True
    if not NAME_RE.match(name) or len(name) > 128:
        c.add(table, f"{name!r} is not a valid image name: use lower-case letters, digits "
              "and '.', '_', '-' between them (e.g. \"python-base\")")
        ok = False
    tier = d.get("tier", DEFAULT_TIER[kind])
    if not isinstance(tier, str):
        c.add(table, "tier must be a string naming a tier"
              + (f" ({', '.join(tiers)})" if tiers else ""))
        ok = False
    elif tier not in tiers and tiers_said:
        ok = False
    elif tier not in tiers:
        hint = difflib.get_close_matches(tier, list(dict.fromkeys([*tiers, *SEED_TIERS])), n=1)
        c.add(table, f"unknown tier {tier!r}; "
              + (f"did you mean {hint[0]!r}?" if hint else f"add a [tiers.{tier}] table"))
        ok = False
    context_raw = d.get("context", default_context)
    context = _inside(c, table, "context", context_raw, root, base_dir)
    if context is not None and (target := checks.escapes(context)):
        c.add(table, f"context {context_raw!r} leads outside the repository {root} (to "
              f"{target}) through a symlink; point it at a folder inside the repository")
        context = None
    if context is not None and not checks.is_dir(context):
        c.add(table, f"context {context_raw!r} is not a directory; fix the path")
        context = None
    dockerfile_raw = d.get("dockerfile")
    dockerfile: str | None
    if dockerfile_raw is None:
        # Docker's default: Dockerfile at the context root.
        dockerfile = None if context is None else _join(context, "Dockerfile")
        dockerfile_raw = "Dockerfile in the context"
    else:
        dockerfile = _inside(c, table, "dockerfile", dockerfile_raw, root, base_dir)
    if dockerfile is not None and (target := checks.escapes(dockerfile)):
        c.add(table, f"dockerfile {dockerfile_raw!r} leads outside the repository {root} (to "
              f"{target}) through a symlink; keep the Dockerfile inside the repository")
        dockerfile = None
    if dockerfile is not None and not checks.is_file(dockerfile):
        c.add(table, f"dockerfile {dockerfile_raw!r} does not exist; fix the path "
              "or create it")
        dockerfile = None
    args_raw = d.get("args", {})
    args: list[tuple[str, str]] = []
    if not isinstance(args_raw, dict):
        c.add(table, f"args = {args_raw!r} must be a table, like "
              "args = { PYTHON_VERSION = \"3.11\" }")
    else:
        for k, v in args_raw.items():
            if not ARG_NAME_RE.match(k):
                c.add(table, f"args: {k!r} is not a valid build-arg name: use letters, "
                      "digits and '_', not starting with a digit")
            elif isinstance(v, bool) or not isinstance(v, str | int | float):
                c.add(table, f"args.{k} = {v!r} must be a string or a number, like "
                      f"{k} = \"1\"")
            else:
                args.append((k, str(v)))
    if None in (context, dockerfile) or not ok:
        return None
    assert context is not None and dockerfile is not None
    return Image(
        name=name, kind=kind, tier=str(tier), dockerfile=dockerfile, context=context,
        target=_opt_str(c, table, "target", d.get("target")),
        args=tuple(sorted(args)),
        depends_on=tuple(_str_list(c, table, "depends_on", d.get("depends_on", []))),
        inputs=tuple(_rel_patterns(root, base_dir, _str_list(c, table, "inputs",
                                                             d.get("inputs", [])))),
        ignore=tuple(_rel_patterns(root, base_dir, _str_list(c, table, "ignore",
                                                             d.get("ignore", [])))),
        platform=_opt_str(c, table, "platform", d.get("platform")),
        smoke=_smoke(c, table, d.get("smoke")),
        tags=_tags(c, table, d.get("tags")),
        labels=_labels(c, table, d.get("labels")),
    )


# --- image references and labels (keys `tags`, `labels`) ---------------------------------------
# tags:   list of image references, default [] (= "{registry}/{name}:{tag}"); each must be a
#         reference Docker accepts, without a digest; no reference may belong to two images.
# labels: table of string -> string, default {}; passed as --label, counted in the digest.

def _tags(c: _Collector, table: str, value: object) -> tuple[str, ...]:
    from buildorch.dockerlang.reference import parse as parse_ref

    out: list[str] = []
    for ref in _str_list(c, table, "tags", [] if value is None else value):
        try:
            parsed = parse_ref(ref)
        except ValueError as exc:
            c.add(table, f"tags: {ref!r} is not an image reference ({exc}); write it like "
                  "\"org/base:4.1.2\"")
            continue
        if parsed.digest:
            c.add(table, f"tags: {ref!r} names a digest: a build can only be tagged; drop "
                  "the @… part")
            continue
        if ref not in out:
            out.append(ref)
    return tuple(out)


def _labels(c: _Collector, table: str, value: object) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        c.add(table, f"labels = {value!r} must be a table, like labels = "
              "{ \"org.opencontainers.image.version\" = \"1.0\" }")
        return ()
    out: list[tuple[str, str]] = []
    for k, v in value.items():
        if not k or isinstance(v, bool) or not isinstance(v, str | int | float):
            c.add(table, f"labels.{k} = {v!r} must be a string (or a number)")
        else:
            out.append((k, str(v)))
    return tuple(sorted(out))


def _claimed_tags(c: _Collector, images: Mapping[str, Image], registry: str | None,
                  tag: str) -> None:
    """Two images claiming one reference: one line naming both."""
    from buildorch.dockerlang.reference import normalize

    owner: dict[str, str] = {}
    for image in images.values():
        refs = image.tags or ((f"{registry}/{image.name}" if registry else image.name)
                              + f":{tag}",)
        for ref in refs:
            key = normalize(ref) or ref
            other = owner.setdefault(key, image.name)
            if other != image.name:
                c.add(image.table, f"tag {ref!r} is also a tag of {images[other].table}: "
                      "one reference names one image; remove it from one of them")


def _smoke(c: _Collector, table: str, value: object) -> Smoke | None:
    """`smoke = ["cmd", "arg"…]` or `smoke = "healthcheck"`."""
    if value is None:
        return None
    if value == HEALTHCHECK:
        return Smoke()
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return Smoke(tuple(value))
    if isinstance(value, str):
        close = difflib.get_close_matches(value, [HEALTHCHECK], n=1, cutoff=0.6)
        hint = (f'did you mean "{HEALTHCHECK}"?' if close else
                f"write a command as a list, e.g. smoke = {_argv_hint(value)}, or "
                f'smoke = "{HEALTHCHECK}"')
        c.add(table, f"smoke = {value!r} is neither a command list nor "
              f'"{HEALTHCHECK}"; {hint}')
        return None
    c.add(table, 'smoke must be a non-empty list of strings like ["python", "-c", "import app"] '
          f'or "{HEALTHCHECK}"')
    return None


def _argv_hint(text: str) -> str:
    words = text.split() or ["sh", "-c", "true"]
    return "[" + ", ".join(f'"{w}"' for w in words) + "]"


def _join(a: str, b: str) -> str:
    return b if a == "." else f"{a}/{b}"


def escapes(root: Path, rel: str) -> str | None:
    """Where `root/rel` really leads when that is outside `root` (symlinks followed, every
    component); None when it stays inside (or does not exist yet)."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.join(root, rel))
    if real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep):
        return None
    return real


def _inside(c: _Collector, table: str, key: str, value: object, root: Path,
            base_dir: Path) -> str | None:
    """A path from services.toml (relative to the file) as a posix path relative to the root."""
    if not isinstance(value, str) or not value:
        c.add(table, f"{key} = {value!r} must be a non-empty string path, relative to "
              "services.toml")
        return None
    full = Path(os.path.normpath(base_dir / value))
    try:
        rel = full.relative_to(root)
    except ValueError:
        c.add(table, f"{key} {value!r} is outside the repository {root}; "
              "keep build contexts and Dockerfiles inside it")
        return None
    text = rel.as_posix()
    return text or "."


def _rel_patterns(root: Path, base_dir: Path, patterns: list[str]) -> list[str]:
    """Make services.toml-relative gitignore patterns root-relative (they are anchored)."""
    prefix = PurePosixPath(base_dir.relative_to(root).as_posix()) if base_dir != root else None
    out = []
    for p in patterns:
        neg = p.startswith("!")
        body = p[1:] if neg else p
        if prefix is not None and str(prefix) != ".":
            body = f"/{prefix}/{body.lstrip('/')}"
        out.append(("!" if neg else "") + body)
    return out


def _str_list(c: _Collector, table: str, key: str, value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        c.add(table, f"{key} = {value!r} must be a list of strings, like {key} = [\"…\"]")
        return []
    return list(value)


def _opt_str(c: _Collector, table: str, key: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        c.add(table, f"{key} = {value!r} must be a non-empty string (or leave it out)")
        return None
    return value


def _duration(c: _Collector, table: str, key: str, value: object) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        c.add(table, f"{key}: {exc}")
        return None


def _size(c: _Collector, table: str, key: str, value: object) -> int | None:
    try:
        return parse_size(value)
    except ValueError as exc:
        c.add(table, f"{key}: {exc}")
        return None
