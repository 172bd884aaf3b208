"""services.toml -> a frozen Config. Every problem is collected, each one line naming the table."""

from __future__ import annotations

import os
import posixpath
import re
import shlex
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from buildorch import config_keys
from buildorch.config_keys import (
    ARG_NAME_RE,
    CACHE_SINKS,
    CACHE_SOURCES,
    CLEANUP_POLICIES,
    HEALTHCHECK,
    NAME_RE,
    REGISTRY_RE,
    TAG_RE,
    TOP_KEYS,
    context_kind,
)
from buildorch.errors import BuildorchError, ConfigError

__all__ = [
    "ARG_NAME_RE", "CACHE_SINKS", "CACHE_SOURCES", "CLEANUP_POLICIES", "CONFIG_NAME",
    "HEALTHCHECK", "NAME_RE", "REGISTRY_RE", "TAG_RE", "TOP_KEYS", "Config", "Image", "Smoke",
    "Tier", "context_kind", "find_config", "find_root", "load", "parse", "parse_lenient",
    "read_text", "seed_policy", "tier_rank",
]

CONFIG_NAME = "services.toml"
_TIER = config_keys.TIER.defaults()    # the dataclass defaults, declared once in config_keys


@dataclass(frozen=True)
class Tier:
    name: str
    timeout: float = _TIER["timeout"]
    step_timeout: float | None = _TIER["step_timeout"]
    max_parallel: int | None = _TIER["max_parallel"]
    min_free: int = _TIER["min_free"]
    cleanup: str = _TIER["cleanup"]
    builder: str | None = _TIER["builder"]
    smoke_timeout: float = _TIER["smoke_timeout"]   # bounds each smoke check of the tier's images


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
# image kind -> tier when none is given
DEFAULT_TIER = {"base": str(config_keys.BASE.key("tier").default),
                "service": str(config_keys.SERVICE.key("tier").default)}


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
    # Named build contexts (`--build-context NAME=…`): NAME -> a root-relative folder,
    # "docker-image://REF" or "target:IMAGE" (a configured image, pinned when built).
    contexts: tuple[tuple[str, str], ...] = ()

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
    compose: tuple[str, ...] = ()   # [project] compose, relative to services.toml

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

    def unknown_image(self, name: str) -> BuildorchError:
        """The one-line error for an image name this file does not declare, with the closest."""
        hint = config_keys.close_matches(name, list(self.images))
        return BuildorchError(f"unknown image {name!r}"
                              + (f"; did you mean {hint[0]!r}?" if hint else
                                 f" in {self.path.name}: name one of its images "
                                 "(`buildorch graph` lists them)"))

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
    raise BuildorchError(
        f"no {CONFIG_NAME} found in {start} or its parents: create one "
        "(`buildorch init` writes it; `buildorch schema --format markdown` lists its keys) "
        "or pass --config FILE"
    )


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
                self.add(table, f"unknown key {key!r}; {config_keys.hint(key, valid)}")

    def read(self, table: str, decl: config_keys.Table, data: Mapping[str, Any],
             **fields: str) -> dict[str, Any]:
        return config_keys.read(decl, data, lambda line: self.add(table, line), fields)

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
        Escapes(root) if is_file is None else (lambda p: None))
    c.keys("top level", data, TOP_KEYS)

    project = c.read("[project]", config_keys.PROJECT,
                     c.table("", "project", data.get("project")))
    cache = c.read("[cache]", config_keys.CACHE, c.table("", "cache", data.get("cache")))

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
        close = config_keys.close_matches(name, [*declared_tiers, *SEED_TIERS], cutoff=0.8)
        if known or (not declared_tiers and not close):
            implicit[name] = seed_policy(name)
    for name, tdata in {**declared_tiers, **implicit}.items():
        table = f"[tiers.{name}]"
        if not isinstance(tdata, dict):
            c.table("tiers", name, tdata)
            tiers[name] = Tier(name=name)   # said once above; images naming it are fine
            continue
        tiers[name] = Tier(name=name, **c.read(table, config_keys.TIER, tdata))

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
                           project["context"], checks, tiers_said)
            if image is not None:
                images[name] = image
    if not declared and not bad_sections:   # an invalid table is said as such, once
        c.add("top level", "no images: add a [base.NAME] or [services.NAME] table")

    _claimed_tags(c, images, project["registry"], project["tag"])
    for image in images.values():
        for dep in image.depends_on:
            if dep not in declared:
                hint = config_keys.close_matches(dep, list(images))
                c.add(image.table, f"depends_on names {dep!r}, which is not an image here"
                      + (f"; did you mean {hint[0]!r}?" if hint else
                         f"; remove it, or add a [base.{dep}] or [services.{dep}] table"))
            elif dep == image.name:
                c.add(image.table, "depends_on names the image itself; remove it")
        for cname, value in image.contexts:
            kind, rest = context_kind(value)
            if kind == "target" and (rest not in declared or rest == image.name):
                c.add(image.table, f"contexts.{cname} = {value!r} names "
                      + ("the image itself" if rest == image.name else f"no image {rest!r}")
                      + "; name another image of this file")

    return Config(
        path=path, root=root, registry=project["registry"], tag=project["tag"],
        jobs=project["jobs"], platform=project["platform"], cache_from=cache["from"],
        cache_to=cache["to"], local_cache_max=cache["local_max_size"], tiers=tiers,
        images=images, compose=tuple(project["compose"]),
    ), c.problems


def _image(
    c: _Collector, table: str, kind: str, name: str, d: Mapping[str, Any],
    tiers: Mapping[str, Tier], root: Path, base_dir: Path, default_context: str,
    checks: _Checks, tiers_said: bool = False,
) -> Image | None:
    decl = config_keys.BASE if kind == "base" else config_keys.SERVICE
    v = c.read(table, decl, d, known=f" ({', '.join(tiers)})" if tiers else "")
    ok = "tier" not in d or isinstance(d["tier"], str)
    if not NAME_RE.match(name) or len(name) > 128:
        c.add(table, f"{name!r} is not a valid image name: use lower-case letters, digits "
              "and '.', '_', '-' between them (e.g. \"python-base\")")
        ok = False
    tier = v["tier"]
    if not ok or (tier not in tiers and tiers_said):
        ok = False
    elif tier not in tiers:
        hint = config_keys.close_matches(tier, list(dict.fromkeys([*tiers, *SEED_TIERS])))
        c.add(table, f"unknown tier {tier!r}; "
              + (f"did you mean {hint[0]!r}?" if hint else f"add a [tiers.{tier}] table"))
        ok = False
    # A context or dockerfile of the wrong type was said by `read`: only paths are resolved.
    context_raw = d.get("context", default_context)
    context = (None if "context" in d and v["context"] is None else
               _inside(c, table, "context", context_raw, root, base_dir))
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
    elif v["dockerfile"] is None:
        dockerfile = None
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
    if None in (context, dockerfile) or not ok:
        return None
    assert context is not None and dockerfile is not None
    smoke = v["smoke"]
    return Image(
        name=name, kind=kind, tier=str(tier), dockerfile=dockerfile, context=context,
        target=v["target"], args=v["args"], depends_on=v["depends_on"],
        inputs=tuple(_rel_patterns(root, base_dir, v["inputs"])),
        ignore=tuple(_rel_patterns(root, base_dir, v["ignore"])),
        platform=v["platform"], smoke=None if smoke is None else Smoke(smoke),
        tags=v["tags"], labels=v["labels"],
        contexts=_contexts(c, table, v["contexts"], d.get("contexts"), root, base_dir,
                           checks),
    )


def _contexts(c: _Collector, table: str, contexts: tuple[tuple[str, str], ...], raw: object,
              root: Path, base_dir: Path, checks: _Checks) -> tuple[tuple[str, str], ...]:
    """`contexts` as config_keys checked them, each folder made root-relative: one inside
    the repository, a directory (a `target:` is checked once every image is known). When
    `read` refused an entry (said there), the others are still checked and kept."""
    if not contexts and isinstance(raw, dict) and raw:
        contexts = config_keys.Contexts.entries("contexts", raw)[0]
    out: list[tuple[str, str]] = []
    for name, raw in contexts:
        if context_kind(raw)[0] != "path":
            out.append((name, raw))
            continue
        folder = _inside(c, table, f"contexts.{name}", raw, root, base_dir)
        if folder is not None and not checks.is_dir(folder):
            c.add(table, f"contexts.{name} = {raw!r} is not a directory; fix the path")
        elif folder is not None:
            out.append((name, folder))
    return tuple(sorted(out))


def _claimed_tags(c: _Collector, images: Mapping[str, Image], registry: str | None,
                  tag: str) -> None:
    """Two images claiming one reference (a `tags` entry, or the project's
    {registry}/{name}:{tag} of an image without tags): one line naming both."""
    from buildorch.dockerlang.reference import normalize

    owner: dict[str, str] = {}
    for image in images.values():
        refs = image.tags or ((f"{registry}/{image.name}" if registry else image.name)
                              + f":{tag}",)
        for ref in refs:
            other = owner.setdefault(normalize(ref) or ref, image.name)
            if other != image.name:
                c.add(image.table, f"tag {ref!r} is also a tag of {images[other].table}: "
                      "one reference names one image; remove it from one of them")


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


class Escapes:
    """`escapes(root, rel)` for many paths under one root: the root's real path found once,
    and each folder's once (a config names a thousand Dockerfiles in a few hundred folders;
    `os.path.realpath` would walk every component of every one)."""

    def __init__(self, root: Path) -> None:
        self._root = str(root)
        self._real_root = os.path.realpath(root)
        self._real: dict[str, str] = {"": self._real_root}

    def _resolve(self, rel: str) -> str:
        got = self._real.get(rel)
        if got is None:
            parent, name = posixpath.split(rel)
            base = self._resolve(parent)
            full = os.path.join(base, name)
            # `base` has no link left in it: only this component can be one
            got = os.path.realpath(full) if os.path.islink(full) else full
            self._real[rel] = got
        return got

    def __call__(self, rel: str) -> str | None:
        norm = posixpath.normpath(rel)
        if norm == ".":
            real = self._real_root
        elif norm.startswith("/") or ".." in rel.split("/"):
            # `link/..` is the link's target's parent: realpath takes the components in order
            real = os.path.realpath(os.path.join(self._root, rel))
        else:
            real = self._resolve(norm)
        if real == self._real_root or real.startswith(self._real_root.rstrip(os.sep) + os.sep):
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
