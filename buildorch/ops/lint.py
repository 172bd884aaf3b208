"""Dockerfile cache hygiene: text in, findings out (`buildorch lint` renders them).

Rules, each a finding with the line where its instruction starts:

- `pip-no-cache-mount` / `apt-no-cache-mount`: a `pip install` or `apt(-get) install` in a RUN
  with no `--mount=type=cache` on the tool's cache folder: every build downloads again.
- `pip-cache-disabled`: `PIP_NO_CACHE_DIR` (ENV or inline) or `--no-cache-dir` where a pip
  cache mount is used: pip then never reads nor writes the mount, silently.
- `copy-before-install`: `COPY . …` or a copy of the service's whole folder before a dependency
  install later in the same stage: any source edit re-runs the install.
- `apt-update-separate`: `apt-get update` in another RUN than its `apt-get install`: the update
  layer stays cached while the install layer changes, so the install uses stale lists.
- `unpinned-base`: `FROM image` or `FROM image:latest` of an image not built here.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from buildorch.config import Config
from buildorch.dockerlang import analysis
from buildorch.dockerlang.golang import clean as go_clean
from buildorch.dockerlang.instructions import mount_fields, parse_flags
from buildorch.dockerlang.parser import Node
from buildorch.dockerlang.reference import repository_of
from buildorch.errors import BuildorchError

RULES = ("pip-no-cache-mount", "apt-no-cache-mount", "pip-cache-disabled",
         "copy-before-install", "apt-update-separate", "unpinned-base", "parse-error")

# A command starts at the line start or after a shell separator; `sudo`/env assignments allowed.
_CMD = r"(?:^|[;&|(\n]|\bthen\b|\bdo\b)\s*(?:sudo\s+)?(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*"
_PIP_INSTALL = re.compile(
    _CMD + r"(?:\S*/)?(?:pip[0-9.]*|python[0-9.]*\s+-m\s+pip|uv\s+pip)\s+(?:-\S+\s+)*install\b")
_APT_INSTALL = re.compile(_CMD + r"(?:\S*/)?apt(?:-get)?\s+(?:-\S+\s+)*install\b")
_APT_UPDATE = re.compile(_CMD + r"(?:\S*/)?apt(?:-get)?\s+(?:-\S+\s+)*update\b")
_NPM_INSTALL = re.compile(_CMD + r"(?:\S*/)?(?:npm\s+(?:install|ci|i)|yarn(?:\s+install)?|"
                          r"pnpm\s+install)\b")
_NO_CACHE_DIR = re.compile(r"(?<![\w-])--no-cache-dir\b")
_INLINE_NO_CACHE = re.compile(r"\bPIP_NO_CACHE_DIR=")
_PIP_TARGETS = ("/root/.cache/pip",)
_APT_TARGETS = ("/var/cache/apt", "/var/lib/apt")


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    rule: str
    message: str

    def to_json(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "rule": self.rule,
                "message": self.message}

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.rule}: {self.message}"


@dataclass(frozen=True)
class Source:
    """One Dockerfile to lint, with what the project knows about it."""

    file: str                               # as shown in findings (repository-relative)
    text: str
    built_here: Collection[str] = ()        # repositories of the configured images
    build_args: Mapping[str, str] | None = None
    service_dir: str | None = None          # the Dockerfile's folder relative to its context
    target: str | None = None               # the stage built (the last when None)
    # repository of an image built here -> where it sets PIP_NO_CACHE_DIR (its children
    # inherit the ENV, and with it a disabled pip cache)
    inherited_no_cache: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Report:
    findings: tuple[Finding, ...]
    no_cache_dir: str | None     # where the built stage's PIP_NO_CACHE_DIR comes from, if set


def _script(node: Node) -> str:
    """What a RUN executes: its command and heredoc bodies."""
    parts = [" ".join(node.args)]
    parts.extend(doc.content for doc in node.heredocs)
    return "\n".join(parts)


def _under(target: str, roots: tuple[str, ...]) -> bool:
    clean = go_clean("/" + target.strip())
    return any(clean == r or clean.startswith(r + "/") for r in roots)


def _cache_mounts(node: Node) -> list[str]:
    """Targets of the RUN's cache mounts."""
    mounts = parse_flags(node).get("mount", [])
    targets = []
    for spec in mounts if isinstance(mounts, list) else ():
        fields = dict(mount_fields(spec, node.start_line))
        if fields.get("type", "bind").lower() != "cache":
            continue
        target = fields.get("target", fields.get("dst", fields.get("destination", "")))
        if target:
            targets.append(target)
    return targets


def _unpinned(ref: str) -> bool:
    if "@" in ref:
        return False
    slash, colon = ref.rfind("/"), ref.rfind(":")
    return colon <= slash or ref[colon + 1:] == "latest"


class _Linter:
    def __init__(self, src: Source) -> None:
        self.src = src
        self.out: list[Finding] = []
        self.built_here = {repository_of(r) for r in src.built_here}
        self.inherited = {repository_of(k): v
                          for k, v in (src.inherited_no_cache or {}).items()}
        self.final: str | None = None

    def add(self, line: int, rule: str, message: str) -> None:
        self.out.append(Finding(self.src.file, line, rule, message))

    def run(self) -> list[Finding]:
        try:
            _, stages = analysis.stages(self.src.text, self.src.build_args)
        except BuildorchError as exc:
            self.add(1, "parse-error", f"cannot parse: {exc}")
            return self.out
        names: dict[str, str | None] = {}     # stage name -> its PIP_NO_CACHE_DIR origin
        for index, stage in enumerate(stages):
            ref = self._from(stage, names)
            no_cache = None
            if ref is not None:
                no_cache = (names[ref.lower()] if ref.lower() in names else
                            self.inherited.get(repository_of(ref)))
            try:
                no_cache = self._stage(list(stage.commands), no_cache)
            except BuildorchError as exc:
                self.add(stage.node.start_line, "parse-error", f"cannot read the stage: {exc}")
            if stage.name:
                names[stage.name] = no_cache
            target = (self.src.target or "").lower()
            if (stage.name and stage.name == target) or (not target and
                                                          index == len(stages) - 1):
                self.final = no_cache
        return self.out

    def _from(self, stage: analysis.StageView, stage_names: Collection[str]) -> str | None:
        """The base the stage starts from (None when it cannot be known)."""
        ref = stage.base
        if ref is None or ref.lower() in stage_names or ref == "scratch":
            return ref
        if repository_of(ref) in self.built_here or not _unpinned(ref):
            return ref
        self.add(stage.node.start_line, "unpinned-base",
                 f"FROM {ref} is not pinned and not built here: pin a version tag or digest "
                 "so cached layers are not silently rebuilt on a new upstream image")
        return ref

    def _stage(self, commands: list[Node], no_cache_env: str | None) -> str | None:
        """Lint a stage's instructions; returns where PIP_NO_CACHE_DIR is set at its end."""
        whole_copies: list[Node] = []
        pending_update: Node | None = None
        for node in commands:
            cmd = node.command
            if cmd == "env":
                keys = node.args[0::2]
                if "PIP_NO_CACHE_DIR" in keys:
                    no_cache_env = f"ENV at line {node.start_line}"
            elif cmd == "copy" and "from" not in parse_flags(node):
                if self._copies_whole(node):
                    whole_copies.append(node)
            elif cmd == "run":
                script = _script(node)
                installs = [kind for kind, rx in (("pip", _PIP_INSTALL), ("apt", _APT_INSTALL),
                                                  ("npm", _NPM_INSTALL)) if rx.search(script)]
                self._run(node, script, no_cache_env)
                if installs:
                    for copy in whole_copies:
                        self.add(copy.start_line, "copy-before-install",
                                 f"{copy.keyword.upper()} {' '.join(copy.args[:-1])} comes "
                                 f"before the {installs[0]} install at line {node.start_line}: "
                                 "every source edit re-runs the install; copy only the "
                                 "dependency files (requirements.txt…) first")
                    whole_copies = []
                if _APT_UPDATE.search(script):
                    pending_update = None if "apt" in installs else node
                elif "apt" in installs and pending_update is not None:
                    self.add(pending_update.start_line, "apt-update-separate",
                             f"apt-get update here and apt-get install at line "
                             f"{node.start_line} are separate RUNs: the cached update layer "
                             "goes stale; run `apt-get update && apt-get install` in one RUN")
                    pending_update = None
        return no_cache_env

    def _copies_whole(self, node: Node) -> bool:
        if node.is_json or node.heredocs or len(node.args) < 2:
            return False
        whole = {"."}
        if self.src.service_dir not in (None, "", "."):
            whole.add(go_clean(self.src.service_dir or "."))
        return any(go_clean("/" + s).lstrip("/") in whole or s in (".", "./")
                   for s in node.args[:-1])

    def _run(self, node: Node, script: str, no_cache_env: str | None) -> None:
        targets = _cache_mounts(node)
        pip_mount = any(_under(t, _PIP_TARGETS) for t in targets)
        apt_mount = any(_under(t, _APT_TARGETS) for t in targets)
        line = node.start_line
        if _PIP_INSTALL.search(script) and not pip_mount:
            self.add(line, "pip-no-cache-mount",
                     "pip install without a pip cache mount: add "
                     "--mount=type=cache,id=pip,target=/root/.cache/pip,sharing=locked")
        if _APT_INSTALL.search(script) and not apt_mount:
            self.add(line, "apt-no-cache-mount",
                     "apt install without an apt cache mount: add "
                     "--mount=type=cache,id=apt,target=/var/cache/apt,sharing=locked")
        if not pip_mount:
            return
        if no_cache_env is not None:
            self.add(line, "pip-cache-disabled",
                     f"PIP_NO_CACHE_DIR ({no_cache_env}) disables this RUN's pip "
                     "cache mount: remove it from that ENV")
        if _INLINE_NO_CACHE.search(script):
            self.add(line, "pip-cache-disabled",
                     "PIP_NO_CACHE_DIR disables this RUN's pip cache mount: remove it")
        if _NO_CACHE_DIR.search(script):
            self.add(line, "pip-cache-disabled",
                     "--no-cache-dir disables this RUN's pip cache mount: remove it")


def check(src: Source) -> Report:
    """Every finding in one Dockerfile, in line order, and whether the image it builds sets
    PIP_NO_CACHE_DIR. Never raises for a bad Dockerfile: a file that does not parse is a
    `parse-error` finding."""
    linter = _Linter(src)
    found = sorted(linter.run(), key=lambda f: (f.line, f.rule))
    return Report(tuple(found), linter.final)


def lint(src: Source) -> list[Finding]:
    return list(check(src).findings)


def _order(cfg: Config) -> list[str]:
    """Parents first, so a child knows whether its parent disables the pip cache; by name
    when the graph cannot be made (lint still reports what it can)."""
    from buildorch.planning import baseline

    try:
        return baseline.work_snapshot(cfg).graph.order()
    except BuildorchError:
        return sorted(cfg.images)


def lint_config(cfg: Config) -> list[Finding]:
    """Findings over every configured Dockerfile; one Dockerfile shared by several images is
    linted once per image (args and target can change what it does), findings deduplicated."""
    built_here = [cfg.repository(n) for n in cfg.images]
    no_cache: dict[str, str] = {}     # repository -> where its image sets PIP_NO_CACHE_DIR
    seen: dict[tuple[str, int, str, str], Finding] = {}
    for name in _order(cfg):
        image = cfg.images[name]
        path = cfg.root / image.dockerfile
        try:
            text = path.read_bytes().decode("utf-8", "replace")
        except OSError as exc:
            raise BuildorchError(f"{image.table}: cannot read {image.dockerfile}: "
                                 f"{exc.strerror}; fix the path") from None
        folder = posixpath.dirname(image.dockerfile) or "."
        service_dir = (folder if image.context == "." else
                       posixpath.relpath(folder, image.context))
        report = check(Source(image.dockerfile, text, built_here, dict(image.args),
                              None if service_dir.startswith("..") else service_dir,
                              image.target, no_cache))
        if report.no_cache_dir is not None:
            where = report.no_cache_dir
            if where.startswith("ENV at line "):
                where = f"set by parent image {name} in {image.dockerfile}:{where[12:]}"
            no_cache[cfg.repository(name)] = where
        for f in report.findings:
            seen.setdefault((f.file, f.line, f.rule, f.message), f)
    return sorted(seen.values(), key=lambda f: (f.file, f.line, f.rule))
