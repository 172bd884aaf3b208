"""Compose files read by real parsers, as build entries for `buildorch init`.

`docker compose config --format json` where the compose plugin is installed: compose itself
merges the files, interpolates and resolves paths. Without it, PyYAML's `safe_load` (anchors,
aliases, merge keys, flow collections, every YAML form) and compose's own rules on top:
`${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR:+other}`, `$$` from the
environment and the project's `.env` (the environment wins), several files merged in override
order, paths relative to the first file's folder (the project directory).

What a service builds never depends on its `env_file:` (those set the container's environment),
and env files are often gitignored (`./.env.common` on a fresh clone): when compose refuses the
project for a missing env file, the files are read with PyYAML instead, nothing written.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from buildorch.edges import proc
from buildorch.errors import BuildorchError

BASE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
# Build args buildorch passes on every build itself: copied, they would be passed twice.
OWN_ARGS = frozenset({"BUILDKIT_INLINE_CACHE"})
FILE_RE = re.compile(r"(?:docker-)?compose[^/]*\.ya?ml")


@dataclass(frozen=True)
class BuildEntry:
    """One image a compose service or a bake target builds. Paths are absolute."""

    kind: str                      # "compose" | "bake"
    origin: str                    # the file(s) it was read from, as shown to the user
    key: str                       # the compose service or the bake target
    context: Path
    dockerfile: Path
    target: str | None = None
    args: tuple[tuple[str, str], ...] = ()
    images: tuple[str, ...] = ()   # compose `image:`, bake `tags`
    depends_on: tuple[str, ...] = ()
    unplaced: str = ""             # why it cannot be placed ('' = it can)
    labels: tuple[tuple[str, str], ...] = ()   # bake `labels`
    platform: str | None = None    # bake `platforms`, when it names one
    # named build contexts: NAME -> an absolute folder, "docker-image://REF" or "target:KEY"
    # (KEY: the bake target or compose service that builds it)
    contexts: tuple[tuple[str, str], ...] = ()


def named_contexts(raw: object, base: Path, where: str, notes: list[str]
                   ) -> tuple[tuple[str, str], ...]:
    """Compose `additional_contexts` (a mapping or `NAME=VALUE` list) or bake `contexts`, as
    BuildEntry holds them; a folder is relative to `base`. Kinds buildorch cannot plan (git,
    URLs, oci-layout) are left out with a note."""
    items: list[tuple[str, str]] = []
    if isinstance(raw, dict):
        items = [(str(k), str(v)) for k, v in raw.items() if v is not None]
    elif isinstance(raw, list):
        items = [(k, v) for k, _, v in (str(x).partition("=") for x in raw) if v]
    out: list[tuple[str, str]] = []
    for name, value in items:
        if value.startswith(("service:", "target:")):
            out.append((name, "target:" + value.split(":", 1)[1]))
        elif value.startswith("docker-image://"):
            out.append((name, value))
        elif re.match(r"[a-z][a-z0-9+.-]*://|git@", value):
            notes.append(f"{where}: context {name} = {value} left out (buildorch plans "
                         "folders, docker-image:// and other images here)")
        else:
            out.append((name, str((base / value).resolve())))
    return tuple(sorted(out))


def is_compose_file(path: str) -> bool:
    return FILE_RE.fullmatch(path.rsplit("/", 1)[-1]) is not None


def projects(paths: Sequence[str]) -> list[list[str]]:
    """Compose files grouped as compose reads them by default: in each folder the first of
    compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml with its `.override`
    file; every other compose file on its own."""
    by_dir: dict[str, list[str]] = {}
    for p in paths:
        if is_compose_file(p):
            by_dir.setdefault(p.rpartition("/")[0], []).append(p)
    out: list[list[str]] = []
    for folder, found in sorted(by_dir.items()):
        prefix = f"{folder}/" if folder else ""
        names = {p.rsplit("/", 1)[-1] for p in found}
        used: set[str] = set()
        base = next((n for n in BASE_NAMES if n in names), None)
        if base is not None:
            stem = base.rpartition(".")[0]
            overrides = [o for o in (f"{stem}.override.yaml", f"{stem}.override.yml")
                         if o in names]
            group = [base, *overrides[:1]]
            used.update(group)
            out.append([prefix + n for n in group])
        out.extend([prefix + n] for n in sorted(names - used))
    return out


# --- interpolation, as compose-go/template does it -------------------------------------------

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def read_dotenv(text: str) -> dict[str, str]:
    """A `.env` file: KEY=VALUE lines, `export ` allowed, `#` comments, quoted values."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").lstrip()
        key, eq, value = line.partition("=")
        key = key.strip()
        if not eq or not _NAME.fullmatch(key):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
            if raw.strip().split("=", 1)[1].strip().startswith('"'):
                value = value.replace("\\n", "\n").replace('\\"', '"')
        else:
            value = re.split(r"\s+#", value, maxsplit=1)[0]
        out[key] = value
    return out


def interpolate(text: str, env: Mapping[str, str], where: str) -> str:
    """`$VAR`, `${VAR}`, `${VAR:-x}`, `${VAR-x}`, `${VAR:?msg}`, `${VAR?msg}`, `${VAR:+x}`,
    `${VAR+x}` (defaults may nest), and `$$` for a literal `$`."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "$":
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1:i + 2]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            end = _closing(text, i + 2)
            if end < 0:
                raise BuildorchError(f"{where}: invalid interpolation format for {text!r}: an "
                                     "unclosed ${; close it or write $$ for a literal $")
            out.append(_braced(text[i + 2:end], env, where))
            i = end + 1
        elif (m := _NAME.match(text, i + 1)) is not None:
            out.append(env.get(m.group(0), ""))
            i = m.end()
        else:
            out.append("$")
            i += 1
    return "".join(out)


def _closing(text: str, start: int) -> int:
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _braced(body: str, env: Mapping[str, str], where: str) -> str:
    m = _NAME.match(body)
    if m is None:
        raise BuildorchError(f"{where}: invalid interpolation format ${{{body}}}: a variable "
                             "name must come first")
    name, rest = m.group(0), body[m.end():]
    value = env.get(name)
    if not rest:
        return value or ""
    colon = rest.startswith(":")
    op, arg = (rest[1:2], rest[2:]) if colon else (rest[:1], rest[1:])
    unset = value is None or (colon and value == "")
    if op == "-":
        return interpolate(arg, env, where) if unset else str(value)
    if op == "+":
        return "" if unset else interpolate(arg, env, where)
    if op == "?":
        if unset:
            raise BuildorchError(f"{where}: required variable {name} is missing a value"
                                 + (f": {interpolate(arg, env, where)}" if arg else "")
                                 + "; set it in the environment or .env")
        return str(value)
    raise BuildorchError(f"{where}: invalid interpolation format ${{{body}}}; use ${{{name}}}, "
                         f"${{{name}:-default}} or ${{{name}:?message}}")


def _interpolate_all(value: object, env: Mapping[str, str], where: str) -> object:
    if isinstance(value, str):
        return interpolate(value, env, where)
    if isinstance(value, list):
        return [_interpolate_all(v, env, where) for v in value]
    if isinstance(value, dict):
        return {k: _interpolate_all(v, env, f"{where}.{k}") for k, v in value.items()}
    return value


# --- merging several files ----------------------------------------------------------------

def _normalize(service: object) -> object:
    """The short forms made long, so that files merge key by key."""
    if not isinstance(service, dict):
        return service
    build = service.get("build")
    if isinstance(build, str):
        build = {"context": build}
    if isinstance(build, dict):
        build = dict(build)
        args = build.get("args")
        if isinstance(args, list):
            build["args"] = {str(a).partition("=")[0]: (str(a).partition("=")[2]
                             if "=" in str(a) else None) for a in args}
        service = {**service, "build": build}
    return service


def merge(base: object, override: object) -> object:
    """Compose's override rule: mappings merge key by key, lists append, scalars replace."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for k, v in override.items():
            out[k] = merge(out[k], v) if k in out else v
        return out
    if isinstance(base, list) and isinstance(override, list):
        return base + [v for v in override if v not in base]
    return override


def load_yaml(files: Sequence[Path], env: Mapping[str, str]) -> dict[str, object]:
    """The merged compose model of `files` (PyYAML, compose's interpolation and merging)."""
    import yaml

    merged: dict[str, object] = {}
    for path in files:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise BuildorchError(f"cannot read {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f":{mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise BuildorchError(f"{path.name}{at}: YAML error: {problem}; fix the file") \
                from None
        if data is None:
            continue
        if not isinstance(data, dict):
            raise BuildorchError(f"{path.name}: a compose file is a mapping at the top; "
                                 "is it a compose file?")
        data = {k: _interpolate_all(v, env, f"{path.name}: {k}") for k, v in data.items()}
        services = data.get("services")
        if isinstance(services, dict):
            data["services"] = resolve_extends({k: _normalize(v) for k, v in services.items()},
                                               path, env)
        result = merge(merged, data)
        assert isinstance(result, dict)
        merged = result
    return merged


def resolve_extends(services: Mapping[str, object], here: Path, env: Mapping[str, str],
                    trail: tuple[str, ...] = ()) -> dict[str, object]:
    """`extends:` as compose resolves it: the service it names (in this file, or in `file`,
    relative to this file's folder) merged under the service's own keys, recursively. Its
    `build.context` is taken relative to the file it was written in."""
    return {str(k): _extended(str(k), v, services, here, env, trail)
            for k, v in services.items()}


def _extended(key: str, spec: object, services: Mapping[str, object], here: Path,
              env: Mapping[str, str], trail: tuple[str, ...]) -> object:
    if not isinstance(spec, dict) or "extends" not in spec:
        return spec
    ext = spec["extends"]
    name, file = (ext, None) if isinstance(ext, str) else (
        (ext.get("service"), ext.get("file")) if isinstance(ext, dict) else (None, None))
    where = f"{here.name}: services.{key}.extends"
    if not isinstance(name, str):
        raise BuildorchError(f"{where}: name the service to extend (extends: {{service: X}})")
    link = f"{file or here.name}:{name}"
    if link in trail:
        raise BuildorchError(f"{where}: extends form a cycle: {' -> '.join((*trail, link))}")
    own = {k: v for k, v in spec.items() if k != "extends"}
    source = (here.parent / str(file)).resolve() if file else here
    theirs = load_yaml([source], env).get("services") if file else services
    if not isinstance(theirs, dict) or name not in theirs:
        raise BuildorchError(f"{where}: no service {name!r} in {source.name}")
    base = _extended(name, theirs[name], theirs, source, env, (*trail, link))
    if source.parent != here.parent and isinstance(base, dict) and \
            isinstance(base.get("build"), dict):
        build = dict(base["build"])
        build["context"] = str((source.parent / str(build.get("context") or ".")).resolve())
        base = {**base, "build": build}
    return merge(base, own)


def compose_env(project_dir: Path, environ: Mapping[str, str]) -> dict[str, str]:
    try:
        dotenv = read_dotenv((project_dir / ".env").read_text(encoding="utf-8"))
    except OSError:
        dotenv = {}
    return {**dotenv, **environ}


def plugin_available() -> bool:
    try:
        return proc.run(["docker", "compose", "version"], check=False).returncode == 0
    except BuildorchError:   # no docker at all
        return False


class EnvFileMissing(BuildorchError):
    """`docker compose config` refused the project: an `env_file:` is not there."""


def load_plugin(files: Sequence[Path]) -> dict[str, object]:
    argv = ["docker", "compose", "--project-directory", str(files[0].parent)]
    for f in files:
        argv += ["-f", str(f)]
    done = proc.run([*argv, "config", "--format", "json"], cwd=files[0].parent, check=False)
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        if tail and tail[-1].startswith("env file ") and " not found" in tail[-1]:
            raise EnvFileMissing(tail[-1].split(":", 1)[0])   # "env file PATH not found"
        raise BuildorchError(f"{files[0].name}: docker compose config failed"
                             + (f" ({tail[-1]})" if tail else "") + "; fix the compose file")
    data = json.loads(done.stdout)
    if not isinstance(data, dict):
        raise BuildorchError(f"{files[0].name}: docker compose config printed no mapping")
    return data


def read(files: Sequence[Path], environ: Mapping[str, str] | None = None, *,
         use_plugin: bool | None = None) -> tuple[list[BuildEntry], list[str]]:
    """Build entries of the compose project made of `files` (first = base), and notes."""
    environ = os.environ if environ is None else environ
    project_dir = files[0].parent
    if use_plugin is None:
        use_plugin = plugin_available()
    origin = " + ".join(f.name for f in files)
    notes: list[str] = []
    try:
        data = load_plugin(files) if use_plugin else None
    except EnvFileMissing as exc:
        data = None
        notes.append(f"{origin}: {exc} (docker compose config refuses it): read without it; "
                     "what a service builds does not depend on its env files")
    if data is None:
        data = load_yaml(files, compose_env(project_dir, environ))
    services = data.get("services")
    if not isinstance(services, dict):
        raise BuildorchError(f"{origin}: no `services:` mapping; is it a compose file?")
    entries: list[BuildEntry] = []
    without: list[str] = []
    for key, spec in services.items():
        spec = _normalize(spec)
        where = f"{origin}: services.{key}"
        build = spec.get("build") if isinstance(spec, dict) else None
        if not isinstance(build, dict):
            without.append(str(key))
            continue
        assert isinstance(spec, dict)
        context_raw = str(build.get("context") or ".")
        image = spec.get("image")
        images = (str(image),) if isinstance(image, str) and image else ()
        if re.match(r"[a-z]+://|git@", context_raw):
            entries.append(BuildEntry("compose", origin, str(key), project_dir, project_dir,
                                      images=images, unplaced=f"remote build context "
                                      f"{context_raw} (buildorch plans local contexts)"))
            continue
        context = (project_dir / context_raw).resolve()
        if build.get("dockerfile_inline") is not None:
            entries.append(BuildEntry("compose", origin, str(key), context, context,
                                      images=images, unplaced="dockerfile_inline (buildorch "
                                      "plans Dockerfiles in files)"))
            continue
        dockerfile = (context / str(build.get("dockerfile") or "Dockerfile")).resolve()
        args: dict[str, str] = {}
        raw_args = build.get("args") or {}
        if isinstance(raw_args, dict):
            for k, v in raw_args.items():
                if k in OWN_ARGS:
                    continue
                if v is None:
                    notes.append(f"{where}: build arg {k} takes its value from the "
                                 "environment; left out (add it under args)")
                else:
                    args[str(k)] = str(v)
        if build.get("cache_from"):
            notes.append(f"{where}: cache_from left out: [cache] in services.toml says where "
                         "every image's cache comes from (registry, local, gha)")
        target = build.get("target")
        entries.append(BuildEntry("compose", origin, str(key), context, dockerfile,
                                  str(target) if target else None, tuple(sorted(args.items())),
                                  images, contexts=named_contexts(
                                      # relative to the project, as `docker compose config`
                                      # (2.x here) resolves them
                                      build.get("additional_contexts"), project_dir, where,
                                      notes)))
    if without:
        notes.append(f"{origin}: {len(without)} service(s) without build: left out: "
                     + ", ".join(without))
    return entries, notes
