"""Static analysis of a Dockerfile, faithful to BuildKit's dockerfile frontend.

`analyze` answers what a build of one target reads: which stages BuildKit reaches (the
target, its FROM chain, every stage named by `COPY --from`, `RUN --mount from=` or by ONBUILD
triggers of a parent stage), the normalized text of their instructions, the images they pull,
the build args that can change them, and every read of the build context with variables
expanded the way BuildKit expands them (global ARGs only in FROM, a stage's ARGs and ENVs in
order, build args over defaults). What cannot be known statically, typically a variable the
base image sets, is reported in `unresolved`, and the caller then counts the whole context.

The syntax lives in `parser.py`, variable expansion in `shell_lex.py`, matching sources
against context files in `sources.py`. Nothing here does I/O.

Upstream: moby/buildkit v0.13 `frontend/dockerfile/dockerfile2llb/convert.go` (stages,
global ARGs and their scoping, `--from` resolution, which stages reach the target).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from buildorch.dockerlang.golang import clean as go_clean
from buildorch.dockerlang.instructions import (
    MOUNT_KEYS,
    MOUNT_TYPES,
    canonical,
    check,
    check_reference,
    is_git_ref,
    is_url,
    mount_fields,
    parse_flags,
)
from buildorch.dockerlang.parser import Node, parse, parse_error, parse_heredoc_marker
from buildorch.dockerlang.reference import familiar_reference
from buildorch.dockerlang.shell_lex import ShellLex, ShellLexError
from buildorch.dockerlang.sources import match_sources
from buildorch.errors import BuildorchError

__all__ = ["Analysis", "BaseImage", "ContextSource", "analyze", "match_sources"]


@dataclass(frozen=True)
class ContextSource:
    pattern: str        # relative to the context, expanded, path.Clean'ed; '.' = everything
    instruction: str    # 'COPY' | 'ADD' | 'RUN' (bind mount); 'ONBUILD COPY' etc. for triggers
    line: int           # 1-based line where the instruction starts
    parents: bool = False                 # COPY --parents (pattern matched like .dockerignore)
    excludes: tuple[str, ...] = ()        # COPY/ADD --exclude patterns, as written
    context: str = ""                     # a named build context; '' = the build's context
    via: str = ""                         # the configured base image whose ONBUILD trigger it is


@dataclass(frozen=True)
class BaseImage:
    """What a configured image carries into a build FROM it, as its image config does: the
    ENV it ends with and its ONBUILD triggers (each at its ONBUILD line in `dockerfile`)."""

    name: str
    dockerfile: str
    env: tuple[tuple[str, str, str], ...]   # (name, value, why it is not known or '')
    open_world: bool                        # an external image below it may set more
    triggers: tuple[Node, ...] = ()


@dataclass(frozen=True)
class Analysis:
    directives: tuple[tuple[str, str], ...]
    fingerprint: tuple[str, ...]
    external_images: tuple[str, ...]
    context_sources: tuple[ContextSource, ...]
    onbuild_sources: tuple[ContextSource, ...]
    consumed_args: tuple[str, ...]
    unresolved: tuple[str, ...]
    target: str | None
    # The target's image config as a child build sees it: ENV and ONBUILD triggers
    env: tuple[tuple[str, str, str], ...] = ()
    env_open: bool = True
    triggers: tuple[Node, ...] = ()


_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


# --- values that may depend on what the analysis cannot see -------------------------------

@dataclass(frozen=True)
class _Value:
    text: str
    unknown: str = ""                       # why it is not known ('' = known)
    deps: frozenset[str] = frozenset()      # global ARGs it derives from


@dataclass
class _Env:
    """A scope of variables; `open_world` means unset names may be set by a base image."""

    values: dict[str, _Value] = field(default_factory=dict)
    open_world: bool = False

    def copy(self) -> _Env:
        return _Env(dict(self.values), self.open_world)

    def expand(self, lex: ShellLex, word: str, line: int) -> _Value:
        try:
            res = lex.process(word, {k: v.text for k, v in self.values.items()})
        except ShellLexError as exc:
            raise parse_error(line, str(exc)) from None
        return self.result(res.result, res.matched, res.unmatched)

    def result(self, text: str, matched: set[str], unmatched: set[str]) -> _Value:
        why = [f"${n} ({self.values[n].unknown})" for n in sorted(matched)
               if self.values[n].unknown]
        if self.open_world:
            why += [f"${n} (which the base image may set)" for n in sorted(unmatched)]
        deps = frozenset().union(*(self.values[n].deps for n in matched))
        return _Value(text, "uses " + ", ".join(why) if why else "", deps)


# --- instructions -------------------------------------------------------------------------

@dataclass
class _Stage:
    index: int
    name: str                    # lower-cased, '' when unnamed
    node: Node                   # the FROM line
    base_name: _Value
    commands: list[Node]
    base: _Stage | None = None
    deps: dict[int, _Stage] = field(default_factory=dict)
    final_env: _Env | None = None
    final_config: _Env | None = None
    local: str = ""              # a named local context stands as this stage's root
    carried: BaseImage | None = None   # a configured image it builds FROM

    @property
    def label(self) -> str:
        return self.name or str(self.index)

    def onbuild_triggers(self) -> list[Node]:
        return [c.trigger for c in self.commands if c.command == "onbuild" and c.trigger]


# --- platform and build-args --------------------------------------------------------------

_ARCH_ALIASES = {"x86_64": ("amd64", ""), "x86-64": ("amd64", ""), "aarch64": ("arm64", ""),
                 "armhf": ("arm", "v7"), "armel": ("arm", "v6"), "i386": ("386", "")}


def _platform_args(platform: str | None) -> dict[str, _Value]:
    """The automatic platform ARGs; the build platform is the builder's, never known here."""
    host = "the builder's platform, not known statically"
    out = {f"BUILD{k}": _Value(v, host) for k, v in
           (("PLATFORM", "linux/amd64"), ("OS", "linux"), ("ARCH", "amd64"),
            ("VARIANT", ""), ("OSVERSION", ""))}
    if platform is None:
        why = "the target platform defaults to the builder's; configure a platform"
        out.update({f"TARGET{k[5:]}": _Value(v.text, why) for k, v in out.items()})
        return out
    parts = [*platform.lower().split("/"), "", ""]
    os_, arch, variant = parts[0], parts[1], parts[2]
    if arch in _ARCH_ALIASES:
        arch, default_variant = _ARCH_ALIASES[arch]
        variant = variant or default_variant
    if (arch, variant) in (("arm64", "v8"), ("amd64", "v1")):
        variant = ""  # containerd's platform normalisation
    if arch == "arm" and not variant:
        variant = "v7"
    full = "/".join(p for p in (os_, arch, variant) if p)
    out.update({"TARGETPLATFORM": _Value(full), "TARGETOS": _Value(os_),
                "TARGETARCH": _Value(arch), "TARGETVARIANT": _Value(variant),
                "TARGETOSVERSION": _Value("")})
    return out


# --- the analysis ---------------------------------------------------------------------------

def _split(nodes: tuple[Node, ...]) -> tuple[list[Node], list[tuple[Node, list[Node]]]]:
    """Global ARGs, then (FROM, commands) per stage; only ARG may come before the first FROM."""
    global_args: list[Node] = []
    stages: list[tuple[Node, list[Node]]] = []
    for node in nodes:
        if node.command == "from":
            stages.append((node, []))
        elif stages:
            stages[-1][1].append(node)
        elif node.command == "arg":
            global_args.append(node)
        else:
            raise parse_error(node.start_line, f"{node.keyword.upper()} before the first FROM "
                              "(no build stage in current context)", "move it after a FROM")
    if not stages:
        raise BuildorchError("the Dockerfile has no FROM (dockerfile contains no stages to "
                             "build); add a FROM line")
    return global_args, stages


def _global_env(nodes: list[Node], build_args: Mapping[str, str], lex: ShellLex,
                platform: str | None, stage: str) -> _Env:
    """The global scope FROM lines expand in: automatic platform ARGs, then the global ARGs in
    order, a build arg over a default."""
    env = _Env(_platform_args(platform))
    env.values["TARGETSTAGE"] = _Value(stage)
    for key, value in list(env.values.items()):
        given = build_args.get(key)
        env.values[key] = _Value(given, deps=frozenset({key})) if given is not None else (
            _Value(value.text, value.unknown, frozenset({key})))
    for node in nodes:
        for word in node.args:
            key, has_default, default = word.partition("=")
            if key in build_args:
                env.values[key] = _Value(build_args[key], deps=frozenset({key}))
            elif has_default:
                v = env.expand(lex, default, node.start_line)
                env.values[key] = _Value(v.text, v.unknown, v.deps | {key})
    return env


@dataclass(frozen=True)
class StageView:
    """One stage as BuildKit links it, for tools that walk instructions (lint)."""

    name: str                    # lower-cased, '' when unnamed
    node: Node                   # the FROM line
    base: str | None             # the base expanded with the global ARGs; None if unknown
    commands: tuple[Node, ...]


def stages(text: str, build_args: Mapping[str, str] | None = None
           ) -> tuple[str, list[StageView]]:
    """(escape character, stages) of a Dockerfile, each FROM expanded as BuildKit does
    (global ARGs only, build args over defaults). Raises BuildorchError if it does not parse."""
    parsed = parse(text)
    global_nodes, stage_nodes = _split(parsed.nodes)
    lex = ShellLex(parsed.escape, skip_unset_env=True)
    env = _global_env(global_nodes, build_args or {}, lex, None, "default")
    out: list[StageView] = []
    for node, commands in stage_nodes:
        base: str | None = None
        if node.args:
            try:
                value = env.expand(lex, node.args[0], node.start_line)
                base = value.text if not value.unknown else None
            except BuildorchError:
                base = None
        name = node.args[2].lower() if len(node.args) >= 3 and node.args[1].lower() == "as" \
            else ""
        out.append(StageView(name, node, base or None, tuple(commands)))
    return parsed.escape, out


def _context_path(src: str, parents: bool) -> str:
    """A source as BuildKit resolves it: from the context root, cleaned (`../x` is `x`)."""
    if parents:
        parent, pivot, rest = src.partition("/./")  # `COPY --parents a/./b`: keep b's parents
        if pivot:
            src = f"{parent}/{rest}"
    cleaned = go_clean("/" + src).lstrip("/")
    return cleaned or "."


def _is_int(text: str) -> bool:
    return re.fullmatch(r"[+-]?[0-9]+", text) is not None  # Go's strconv.Atoi


class _Analyzer:
    """One build (target, platform) of one Dockerfile, in BuildKit's order of work.

    As `dockerfile2llb.toDispatchState`: parse and check every instruction; evaluate the
    global ARGs; expand each FROM and link stages (FROM, COPY --from, RUN --mount from=,
    a parent's ONBUILD triggers); refuse cycles; then walk only the stages the target reaches,
    in file order, tracking each stage's variables to expand what it reads.
    """

    def __init__(self, text: str, build_args: Mapping[str, str], target: str | None,
                 platform: str | None, bases: Mapping[str, BaseImage],
                 contexts: Mapping[str, str | None]) -> None:
        self.target_given = target is not None
        self.bases = bases
        self.contexts = contexts
        self.parsed = parse(text)
        for node in self.parsed.nodes:
            check(node)
        self.lex = ShellLex(self.parsed.escape)
        self.build_args = dict(build_args)
        self.images: list[str] = []
        self.sources: list[ContextSource] = []
        self.onbuild: list[ContextSource] = []
        self.consumed: set[str] = set()
        self.unresolved: list[str] = []
        # What the fingerprint hashes in place of an instruction: a FROM with its base resolved,
        # an ARG with the value it takes (BuildKit keys on values, not on how they are spelled)
        self.resolved: dict[int, Node] = {}
        self.as_root: set[int] = set()
        global_nodes, stage_nodes = _split(self.parsed.nodes)
        self.global_nodes = global_nodes
        last = stage_nodes[-1][0].args
        stage_name = target or (last[2].lower() if len(last) == 3 else "")
        self.globals = self._global_scope(global_nodes, platform, stage_name or "default",
                                          self.build_args)
        # The same scope with each build arg standing as `${NAME}`: what the fingerprint hashes
        # of a value (the build arg's own value is hashed with the args, once).
        self.fp_globals = self._global_scope(global_nodes, platform, stage_name or "default",
                                             {k: f"${{{k}}}" for k in self.build_args})
        self.declared_globals = {w.partition("=")[0] for n in global_nodes for w in n.args}
        self.stages: list[_Stage] = []
        self.by_name: dict[str, _Stage] = {}
        self._link_stages(stage_nodes)
        if target is None:
            self.target = self.stages[-1]
        elif (found := self.by_name.get(target.lower())) is not None:
            self.target = found
        else:
            names = ", ".join(sorted(self.by_name)) or "none"
            raise BuildorchError(f"target stage {target!r} could not be found; stages with a "
                                 f"name: {names}")

    # global scope -----------------------------------------------------------------------

    def _global_scope(self, nodes: list[Node], platform: str | None, stage: str,
                      build_args: Mapping[str, str]) -> _Env:
        return _global_env(nodes, build_args, self.lex, platform, stage)

    # stages and the graph between them ----------------------------------------------------

    def _link_stages(self, stage_nodes: list[tuple[Node, list[Node]]]) -> None:
        stages, by_name = self.stages, self.by_name
        for index, (node, commands) in enumerate(stage_nodes):
            base = self.globals.expand(self.lex, node.args[0], node.start_line)
            if not base.text:
                raise parse_error(node.start_line, f"base name ({node.args[0]}) should not be "
                                  "blank", "give the ARG it uses a default or a build arg")
            platform = parse_flags(node).get("platform")
            if isinstance(platform, str):
                p = self.globals.expand(self.lex, platform, node.start_line)
                base = _Value(base.text, base.unknown, base.deps | p.deps)
            name = node.args[2].lower() if len(node.args) == 3 else ""
            stage = _Stage(index, name, node, base, commands)
            # BuildKit looks the base up before registering this stage, by the exact
            # (not lower-cased) name: `FROM Builder` is an image, not stage `builder`
            stage.base = by_name.get(base.text)
            if stage.base is None and base.text != "scratch":
                check_reference(base.text, node.start_line)
                self._from_context(stage, base.text)
            if name and self._named(name):   # a named context replaces the stage whole
                stage.base, stage.commands = None, []
                self._from_context(stage, name)
            if stage.base is None and not stage.local:
                stage.carried = self.bases.get(stage.base_name.text)
            if name:
                by_name[name] = stage
            stages.append(stage)
        for stage in stages:
            for cmd in stage.commands:
                for ref in self._refs(cmd):
                    if isinstance(ref, _Stage):
                        stage.deps[ref.index] = ref
        self._check_cycles(stages)
        for stage in stages:  # a parent stage's ONBUILD triggers run in this stage
            for trigger in self._triggers(stage):
                check(trigger)
                for ref in self._refs(trigger):
                    if isinstance(ref, _Stage):
                        stage.deps[ref.index] = ref

    def _triggers(self, stage: _Stage) -> list[Node]:
        if stage.base is not None:
            return stage.base.onbuild_triggers()
        return list(stage.carried.triggers) if stage.carried else []

    def _named(self, ref: str) -> str:
        """The named context an image reference selects ('' for none), looked up as
        BuildKit's `NamedContext` does: the familiar form without `:latest`."""
        if not self.contexts:
            return ""
        key = familiar_reference(ref).removesuffix(":latest")
        return key if key in self.contexts else ""

    def _from_context(self, stage: _Stage, ref: str) -> None:
        """A FROM that a named context overrides: a folder as the stage's root, or another
        image (`docker-image://`, a configured `target:`)."""
        name = self._named(ref)
        if not name:
            return
        image = self.contexts[name]
        if image is None:
            stage.local = name
        else:
            b = stage.base_name
            stage.base_name = _Value(image, b.unknown, b.deps)

    def _ref(self, value: str, line: int, what: str) -> _Stage | str:
        """A `--from`: stage name (any case), COPY's stage index, else an image reference."""
        if what == "COPY --from" and _is_int(value):
            index = int(value)
            if not 0 <= index < len(self.stages):
                raise parse_error(line, f"invalid stage index {index} in {what}")
            return self.stages[index]
        stage = self.by_name.get(value.lower())
        if stage is not None:
            return stage
        check_reference(value, line)
        return value

    def _refs(self, node: Node) -> list[_Stage | str]:
        """Stages and images a COPY --from or RUN --mount from= names (`toCommand`)."""
        flags = parse_flags(node)
        line = node.start_line
        if node.command == "copy" and isinstance(flags.get("from"), str):
            value = str(flags["from"])
            try:
                expanded = self.lex.process(value, {}).result
            except ShellLexError:
                expanded = ""
            if expanded != value:
                raise parse_error(line, "variable expansion is not supported for --from",
                                  "define a stage with FROM using an ARG from the global scope")
            return [self._ref(value, line, "COPY --from")]
        out: list[_Stage | str] = []
        mounts = flags.get("mount", [])
        for spec in mounts if isinstance(mounts, list) else ():
            for key, value in mount_fields(spec, line):
                if key == "from":
                    if re.search(r"\$.", value):
                        raise parse_error(line, "'from' doesn't support variable expansion",
                                          "define an alias stage instead")
                    out.append(self._ref(value, line, "RUN --mount"))
        return out

    @staticmethod
    def _check_cycles(stages: list[_Stage]) -> None:
        done: set[int] = set()

        def visit(stage: _Stage, path: set[int]) -> None:
            if stage.index in done:
                return
            path.add(stage.index)
            for dep in stage.deps.values():
                if dep.index in path:
                    raise parse_error(stage.node.start_line, "circular dependency detected on "
                                      f"stage: {stage.label}", "remove the COPY --from cycle")
                visit(dep, path)
            path.discard(stage.index)
            done.add(stage.index)

        for stage in stages:
            visit(stage, set())

    def reached(self) -> list[_Stage]:
        seen: set[int] = set()
        todo = [self.target]
        while todo:
            stage = todo.pop()
            if stage.index in seen:
                continue
            seen.add(stage.index)
            todo.extend(stage.deps.values())
            if stage.base is not None:
                todo.append(stage.base)
        return [s for s in self.stages if s.index in seen]

    # dispatch: what each reached stage reads ----------------------------------------------

    def run(self) -> Analysis:
        reached = self.reached()
        # a named folder standing as a stage is read whole only where it is a root filesystem
        # (FROM it, or the target); through --from only the paths named are read
        self.as_root = {s.base.index for s in reached if s.base} | {self.target.index}
        for stage in reached:
            self._dispatch_stage(stage)
        # Global ARG lines are not hashed: what they feed is, as the resolved FROM reference
        # and the values of the ARGs a stage redeclares (renaming BASE_CONTAINER to BASE_IMAGE
        # changes neither, and BuildKit caches such an edit fully).
        members: set[int] = set()
        for stage in reached:
            members.add(id(stage.node))
            members.update(id(c) for c in stage.commands)
        fingerprint = [f"# {k}={v}" for k, v in self.parsed.directives]
        fingerprint += [canonical(self.resolved.get(id(n), n)) for n in self.parsed.nodes
                        if id(n) in members]
        return Analysis(
            directives=self.parsed.directives,
            fingerprint=tuple(fingerprint),
            external_images=tuple(dict.fromkeys(self.images)),
            context_sources=tuple(dict.fromkeys(self.sources)),
            onbuild_sources=tuple(dict.fromkeys(self.onbuild)),
            consumed_args=tuple(sorted(self.consumed)),
            unresolved=tuple(dict.fromkeys(self.unresolved)),
            target=self.target.name if self.target_given else None,
            env=tuple((k, v.text, v.unknown) for k, v in (
                self.target.final_config.values.items() if self.target.final_config else ())),
            env_open=self.target.final_config.open_world if self.target.final_config else True,
            triggers=tuple(self._shifted(c) for c in self.target.commands
                           if c.command == "onbuild" and c.trigger is not None),
        )

    @staticmethod
    def _shifted(node: Node) -> Node:
        """An ONBUILD's trigger as a child runs it: at the ONBUILD line, with its heredocs."""
        t = node.trigger
        assert t is not None
        return Node(t.keyword, t.flags, t.args, t.is_json, node.heredocs, t.original,
                    node.start_line, node.end_line)

    def _dispatch_stage(self, stage: _Stage) -> None:
        line = stage.node.start_line
        self.consumed |= stage.base_name.deps
        fp = self.fp_globals
        flags = tuple(f"--platform={fp.expand(self.lex, f[11:], line).text}"
                      if f.startswith("--platform=") else f for f in stage.node.flags)
        base = fp.expand(self.lex, stage.node.args[0], line).text
        if stage.base is None and stage.base_name.text != "scratch" and "${" not in base:
            base = familiar_reference(base)
        self.resolved[id(stage.node)] = dataclasses.replace(
            stage.node, flags=flags, args=(base, *stage.node.args[1:]))
        if stage.base_name.unknown:
            self.unresolved.append(f"line {line}: FROM {stage.node.args[0]} "
                                   f"{stage.base_name.unknown}")
        triggers: list[Node] = []
        via = ""
        if stage.base is not None:
            assert stage.base.final_env is not None and stage.base.final_config is not None
            env, config = stage.base.final_env.copy(), stage.base.final_config.copy()
            triggers = stage.base.onbuild_triggers()
        elif stage.carried is not None:   # a configured image: its ENV and triggers are known
            self.images.append(stage.base_name.text)
            carried = stage.carried
            env = _Env({k: _Value(v, why) for k, v, why in carried.env}, carried.open_world)
            config = env.copy()
            triggers, via = list(carried.triggers), carried.name
        else:
            scratch = stage.base_name.text == "scratch" or bool(stage.local)
            if stage.local and stage.index in self.as_root:   # all of it, as an image
                self.sources.append(ContextSource(".", "FROM", line, context=stage.local))
            elif not scratch:
                self.images.append(stage.base_name.text)
            # BuildKit adds a default PATH when the base image has none (scratch has none)
            env = _Env({"PATH": _Value(_DEFAULT_PATH)} if scratch else {}, not scratch)
            config = env.copy()
        for trigger in triggers:
            if not via:
                self._dispatch(stage, trigger, env, config, "ONBUILD ")
                continue
            try:
                self._dispatch(stage, trigger, env, config, "ONBUILD ", via)
            except BuildorchError:   # the build will fail on it: count all it could read
                self.sources.append(ContextSource(".", f"ONBUILD {trigger.keyword.upper()}",
                                                  trigger.start_line, via=via))
        for cmd in stage.commands:
            self._dispatch(stage, cmd, env, config, "")
        stage.final_env, stage.final_config = env, config
        if stage is self.target:
            for cmd in stage.commands:
                if cmd.command == "onbuild" and cmd.trigger is not None:
                    self._onbuild_reads(cmd, config)

    def _dispatch(self, stage: _Stage, node: Node, env: _Env, config: _Env,
                  prefix: str, via: str = "") -> None:
        cmd, line = node.command, node.start_line
        if cmd == "arg":
            words = tuple(self._arg(word, env, line) for word in node.args)
            if not prefix:
                self.resolved[id(node)] = dataclasses.replace(node, args=words)
        elif cmd == "env":
            pairs = [(env.expand(self.lex, k, line), env.expand(self.lex, v, line))
                     for k, v in zip(node.args[::2], node.args[1::2], strict=True)]
            for key, value in pairs:  # all expanded first: `ENV a=1 b=$a` sees the old a
                env.values[key.text] = config.values[key.text] = value
        elif cmd in ("copy", "add"):
            self._copy(stage, node, env, prefix, self.sources, via)
        elif cmd == "run":
            self._mounts(stage, node, env, prefix, self.sources, via)

    def _arg(self, word: str, env: _Env, line: int) -> str:
        """`dispatchArg`: build arg, else the default expanded now, else the global value.
        Returns the word to fingerprint: the name alone for a build arg (its value is hashed
        with the args; a default it overrides never reaches the build), `KEY=<value>` for a
        value inherited from a global ARG line, else the word as written."""
        key, has_default, default = word.partition("=")
        self.consumed.add(key)
        value: _Value | None = None
        hashed = word
        if key in self.build_args:
            value = _Value(self.build_args[key], deps=frozenset({key}))
            hashed = key
        elif has_default:
            v = env.expand(self.lex, default, line)
            value = _Value(v.text, v.unknown, v.deps | {key})
        elif key in self.globals.values:
            value = self.globals.values[key]
            if key in self.declared_globals:
                hashed = f"{key}={self.fp_globals.values[key].text}"
        if value is not None:
            self.consumed |= value.deps
            env.values[key] = value
        return hashed

    def _copy(self, stage: _Stage, node: Node, env: _Env, prefix: str,
              out: list[ContextSource], via: str = "") -> None:
        flags = parse_flags(node)
        label, line = prefix + node.keyword.upper(), node.start_line
        context = ""
        if isinstance(flags.get("from"), str):
            ref = self._ref(str(flags["from"]), line, "COPY --from")
            context = self._local(ref)
            if not context:
                self._use_ref(stage, ref, line)
                return
        excludes = flags.get("exclude", [])
        parents = flags.get("parents") is True
        for raw in node.args[:-1]:
            if parse_heredoc_marker(raw):
                continue  # a heredoc body is written by the Dockerfile, not read
            value = env.expand(self.lex, raw, line)
            if value.unknown and context:   # all that named context could give
                out.append(ContextSource(".", label, line, context=context, via=via))
                continue
            if value.unknown:
                self._unknown(out, f"line {line}: {label} source {raw!r} {value.unknown}",
                              label, line)
                continue
            src = value.text
            if is_git_ref(src) or is_url(src):
                if node.command == "copy":
                    kind = "git ref" if is_git_ref(src) else "URL"
                    raise parse_error(line, f"source can't be a {kind} for COPY ({src})",
                                      "use ADD")
                continue
            out.append(ContextSource(_context_path(src, parents), label, line, parents,
                                     tuple(excludes) if isinstance(excludes, list) else (),
                                     context, via))

    def _mounts(self, stage: _Stage, node: Node, env: _Env, prefix: str,
                out: list[ContextSource], via: str = "") -> None:
        line, label = node.start_line, prefix + "RUN"
        mounts = parse_flags(node).get("mount", [])
        for spec in mounts if isinstance(mounts, list) else ():
            mount: dict[str, _Value] = {}
            for key, raw in mount_fields(spec, line):
                if key not in MOUNT_KEYS:
                    raise parse_error(line, f"unexpected key {key!r} in --mount={spec}")
                mount[key] = env.expand(self.lex, raw, line)
            kind = mount.get("type", _Value("bind"))
            if not kind.unknown and kind.text.lower() not in MOUNT_TYPES:
                raise parse_error(line, f"unsupported mount type {kind.text!r}")
            source = mount.get("source", mount.get("src", _Value(".")))
            context = ""
            if "from" in mount:
                if out is self.onbuild:  # a trigger's from= names the child's stages
                    continue
                ref = self._ref(mount["from"].text, line, "RUN --mount")
                context = self._local(ref)
                if not context:
                    self._use_ref(stage, ref, line)
                    continue
            if context and (kind.unknown or source.unknown):
                out.append(ContextSource(".", label, line, context=context, via=via))
            elif kind.unknown or source.unknown:
                self._unknown(out, f"line {line}: RUN --mount={spec} "
                              f"{kind.unknown or source.unknown}", label, line)
            elif kind.text.lower() == "bind" or context:
                out.append(ContextSource(_context_path(source.text, False), label, line,
                                         context=context, via=via))

    def _unknown(self, out: list[ContextSource], reason: str, label: str, line: int) -> None:
        if out is self.onbuild:  # a child build's read we cannot narrow: all of its context
            out.append(ContextSource(".", label, line))
        else:
            self.unresolved.append(reason)

    def _local(self, ref: _Stage | str) -> str:
        """The named local context a `--from` reads ('' when it is a stage or an image)."""
        if isinstance(ref, _Stage):
            return ref.local
        name = self._named(ref)
        return name if name and self.contexts[name] is None else ""

    def _use_ref(self, stage: _Stage, ref: _Stage | str, line: int) -> None:
        if isinstance(ref, str):
            name = self._named(ref)
            ref = self.contexts.get(name) or ref if name else ref
            if ref != "scratch":
                self.images.append(ref)
        elif ref.index >= stage.index:
            raise parse_error(line, f"cannot copy from stage {ref.label!r}, it needs to be "
                              f"defined before current stage {stage.label!r}")

    def _onbuild_reads(self, node: Node, config: _Env) -> None:
        """Reads the target's ONBUILD triggers will make in a child build's context."""
        trigger = node.trigger
        assert trigger is not None
        label = f"ONBUILD {trigger.keyword.upper()}"
        # heredoc bodies hang on the ONBUILD line; the trigger runs at its line in the child
        shifted = self._shifted(node)
        env = config.copy()  # a child sees this image's ENV, not its ARGs
        try:
            if trigger.command in ("copy", "add") and "from" not in parse_flags(trigger):
                self._copy(self.target, shifted, env, "ONBUILD ", self.onbuild)
            elif trigger.command == "run":
                self._mounts(self.target, shifted, env, "ONBUILD ", self.onbuild)
        except BuildorchError:  # the child's build will fail on it; count all it could read
            self.onbuild.append(ContextSource(".", label, node.start_line))


def analyze(text: str, build_args: Mapping[str, str] | None = None,
            target: str | None = None, platform: str | None = None,
            bases: Mapping[str, BaseImage] | None = None,
            contexts: Mapping[str, str | None] | None = None) -> Analysis:
    """Analyse the build of `target` (the last stage when None) for `platform`.

    `platform` is what `docker buildx build --platform` takes: `os/arch[/variant]`, or a
    comma-separated list, in which case the build reads what any of the platforms reads.
    `bases`: configured images by the reference a FROM names them with (their ENV and ONBUILD
    triggers then count, as BuildKit runs them); `contexts`: named build contexts, None for a
    folder, else the image reference it stands for.
    Raises BuildorchError (one line: what, the line, what to do) for a Dockerfile BuildKit
    would reject before running anything.
    """
    names: list[str | None] = [p.strip() for p in (platform or "").split(",") if p.strip()]
    results = [_Analyzer(text, build_args or {}, target, p, bases or {}, contexts or {}).run()
               for p in names or [None]]
    if len(results) == 1:
        return results[0]
    first = results[0]
    fingerprints = {r.fingerprint for r in results}
    fingerprint = first.fingerprint if len(fingerprints) == 1 else tuple(
        line for name, r in zip(names, results, strict=True)
        for line in (f"# platform={name}", *r.fingerprint))

    def union(field: str) -> tuple[Any, ...]:
        return tuple(dict.fromkeys(x for r in results for x in getattr(r, field)))

    return Analysis(first.directives, fingerprint, union("external_images"),
                    union("context_sources"), union("onbuild_sources"),
                    tuple(sorted(union("consumed_args"))), union("unresolved"), first.target,
                    first.env, first.env_open, first.triggers)
