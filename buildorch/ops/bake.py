"""Bake files: `buildorch export bake` writes the graph as a docker-bake.json that
`docker buildx bake` runs; `read` takes a bake file's targets for `buildorch init`, through
`docker buildx bake --print` (bake reads HCL, never buildorch)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from buildorch.config import Config, context_kind
from buildorch.dockerlang.reference import context_key
from buildorch.edges import proc
from buildorch.errors import BuildorchError
from buildorch.ops.compose import BuildEntry, named_contexts
from buildorch.planning.graph import ImageGraph
from buildorch.planning.links import Links
from buildorch.running.cache import cache_args


def bake_file(cfg: Config, graph: ImageGraph, *, cache: bool = True,
              contexts: bool = True, links: Links | None = None) -> dict[str, object]:
    """`links`: each image's FROM links, so that every name a child's FROM uses for a parent
    is served by the parent target (a tag, or a name under another registry)."""
    targets: dict[str, object] = {}
    for name in graph.order():
        image = cfg.images[name]
        target: dict[str, object] = {
            "context": str(cfg.root / image.context),
            "dockerfile": str(cfg.root / image.dockerfile),
            "tags": list(cfg.refs(name)),
            "args": {**dict(image.args), "BUILDKIT_INLINE_CACHE": "1"},
            # A parent is built in the same bake run: its FROM reference is served by the
            # parent target, never by whatever image happens to carry that tag.
        }
        if image.labels:
            target["labels"] = dict(image.labels)
        named: dict[str, tuple[str, str]] = {}   # BuildKit's lookup key -> (name, value)
        # The image's own named contexts, bake's way: a folder absolute, a configured image
        # as its target (bake target names are image names); one wins over a parent's FROM
        # name it shares a lookup key with, as BuildKit's named context wins over the image
        for n, v in image.contexts:
            named[context_key(n)] = (n, str(cfg.root / v) if context_kind(v)[0] == "path"
                                     else v)
        if contexts:
            for p in graph.parents(name):
                named.setdefault(context_key(cfg.ref(p)), (cfg.ref(p), f"target:{p}"))
            for k in (links.links.get(name, ()) if links else ()):
                named.setdefault(context_key(k.ref), (k.ref, f"target:{k.parent}"))
        if named:
            target["contexts"] = dict(named.values())
        if image.target:
            target["target"] = image.target
        platform = image.platform or cfg.platform
        if platform:
            target["platforms"] = [platform]
        if cache:
            src, dst = cache_args(cfg.cache_from, cfg.cache_to, name=name, ref=cfg.ref(name),
                                  repository=cfg.repository(name) if cfg.registry else None,
                                  local_dir=cfg.state_dir / "cache" / name, in_actions=False)
            target["cache-from"] = list(src)
            target["cache-to"] = list(dst)
        targets[name] = target
    return {"group": {"default": {"targets": list(targets)}}, "target": targets}


# --- reading bake files, for `buildorch init` -------------------------------------------------

# bake's own names (`docker-bake.hcl`, `docker-bake.override.json`, …) and the common
# `<anything>.docker-bake.json` / `docker-bake.<anything>.hcl` spellings.
BAKE_RE = re.compile(r"(?:[^/]+\.)?docker-bake(?:[.-][^/]+)?\.(?:hcl|json)")
_OVERRIDE_RE = re.compile(r"(.*)\.override\.(hcl|json)")
# Only `target "NAME"` blocks (and their `inherits`), to name the targets to bake (buildx
# 0.13 cannot list them); bake itself reads the file.
_TARGET_LABEL = re.compile(r'^\s*target\s+"([^"]+)"\s*\{', re.MULTILINE)
_BLOCK = re.compile(r'^\s*(?:target|group|variable|function)\s+"', re.MULTILINE)
_INHERITS = re.compile(r"inherits\s*=\s*\[([^\]]*)\]")
_ATTR = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=", re.MULTILINE)


def is_bake_file(path: str) -> bool:
    return BAKE_RE.fullmatch(path.rsplit("/", 1)[-1]) is not None


def bake_groups(paths: Sequence[str]) -> list[list[str]]:
    """Bake files as bake reads them: each on its own, an override file with the file it
    overrides (`docker-bake.override.hcl` after `docker-bake.hcl`, as bake's defaults)."""
    files = sorted(p for p in paths if is_bake_file(p))
    present = set(files)
    groups: dict[str, list[str]] = {}
    for p in files:
        m = _OVERRIDE_RE.fullmatch(p)
        base = next((f"{m.group(1)}.{ext}" for ext in (m.group(2), "hcl", "json")
                     if f"{m.group(1)}.{ext}" in present), None) if m else None
        groups.setdefault(base or p, []).append(p)
    return [sorted(g, key=lambda f: (f != k, f)) for k, g in groups.items()]


def _print(files: Sequence[Path], targets: Sequence[str], cwd: Path
           ) -> subprocess.CompletedProcess[bytes]:
    argv = ["docker", "buildx", "bake"]
    for f in files:
        argv += ["-f", str(f)]
    return proc.run([*argv, "--print", *targets], cwd=cwd, check=False)


def _targets(files: Sequence[Path]) -> tuple[list[str], set[str], set[str]]:
    """(every target, targets others inherit from, targets that only inherit)."""
    names: list[str] = []
    inherited: set[str] = set()
    only_inherit: set[str] = set()
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
        except OSError:
            continue
        if f.suffix == ".json":
            try:
                found = json.loads(text).get("target", {})
            except (ValueError, AttributeError):
                continue
            for n, body in (found.items() if isinstance(found, dict) else ()):
                names.append(str(n))
                if isinstance(body, dict):
                    inherited.update(str(x) for x in body.get("inherits") or ())
                    if set(body) == {"inherits"}:
                        only_inherit.add(str(n))
            continue
        starts = [m.start() for m in _BLOCK.finditer(text)] + [len(text)]
        for m in _TARGET_LABEL.finditer(text):
            names.append(m.group(1))
            end = next(s for s in starts if s > m.start())
            body = text[m.end():end]
            for inh in _INHERITS.findall(body):
                inherited.update(re.findall(r'"([^"]+)"', inh))
            if set(_ATTR.findall(body)) == {"inherits"}:
                only_inherit.add(m.group(1))
    return list(dict.fromkeys(names)), inherited, only_inherit


def read(files: Sequence[Path], cwd: Path) -> tuple[list[BuildEntry], list[str]]:
    """Build entries of the targets of one bake file (with its override), as
    `docker buildx bake -f FILE --print` run in `cwd` resolves them (variables, functions,
    inherits, matrices; contexts relative to `cwd`, Dockerfiles to their context). Every
    target is an image, except one that only inherits and one that others inherit from
    without tags of its own (an abstract `_common`); groups add nothing."""
    origin = " + ".join(os.path.relpath(f, cwd) for f in files)
    names, inherited, only_inherit = _targets(files)
    try:
        done = _print(files, names, cwd)
    except BuildorchError:
        return [], [f"{origin}: not read (docker buildx is not installed); its Dockerfiles "
                    "are found by name"]
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace")
        last = [x for x in err.strip().splitlines() if x.startswith("ERROR")] or \
            err.strip().splitlines()[-1:]
        return [], [f"{origin}: docker buildx bake --print failed ({last[-1] if last else ''})"
                    "; its Dockerfiles are found by name"]
    data = json.loads(done.stdout)
    entries: list[BuildEntry] = []
    notes: list[str] = []
    for key, t in (data.get("target") or {}).items():
        tags = tuple(str(x) for x in t.get("tags") or ())
        if key in only_inherit or (key in inherited and not tags):
            continue
        context_raw = str(t.get("context") or ".")
        if re.match(r"[a-z]+://|git@", context_raw):
            entries.append(BuildEntry("bake", origin, key, cwd, cwd, images=tags,
                                      unplaced=f"remote build context {context_raw}"))
            continue
        context = (cwd / context_raw).resolve()
        if t.get("dockerfile-inline"):
            entries.append(BuildEntry("bake", origin, key, context, context, images=tags,
                                      unplaced="dockerfile-inline"))
            continue
        dockerfile = (context / str(t.get("dockerfile") or "Dockerfile")).resolve()
        args = {str(k): str(v) for k, v in (t.get("args") or {}).items() if v is not None}
        labels = {str(k): str(v) for k, v in (t.get("labels") or {}).items() if v is not None}
        named = named_contexts(t.get("contexts") or {}, cwd, f"{origin}: target {key}", notes)
        platforms = [str(p) for p in t.get("platforms") or ()]
        entries.append(BuildEntry("bake", origin, key, context, dockerfile, t.get("target"),
                                  tuple(sorted(args.items())), tags,
                                  labels=tuple(sorted(labels.items())),
                                  platform=platforms[0] if len(platforms) == 1 else None,
                                  contexts=named))
    return entries, notes
