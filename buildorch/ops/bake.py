"""Bake files: `buildorch export bake` writes the graph as a docker-bake.json that
`docker buildx bake` runs; `read` takes a bake file's targets for `buildorch init`, through
`docker buildx bake --print` (bake reads HCL, never buildorch)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from buildorch.config import Config
from buildorch.dockerlang.reference import context_key
from buildorch.edges import proc
from buildorch.errors import BuildorchError
from buildorch.ops.compose import BuildEntry
from buildorch.planning.graph import ImageGraph
from buildorch.planning.links import Links
from buildorch.running.builder import cache_args


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
        if contexts:
            named: dict[str, tuple[str, str]] = {}   # BuildKit's lookup key -> (name, target)
            for p in graph.parents(name):
                named.setdefault(context_key(cfg.ref(p)), (cfg.ref(p), f"target:{p}"))
            for k in (links.links.get(name, ()) if links else ()):
                named.setdefault(context_key(k.ref), (k.ref, f"target:{k.parent}"))
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


# --- reading a bake file, for `buildorch init` -------------------------------------------------

BAKE_RE = re.compile(r"docker-bake[^/]*\.(?:hcl|json)")
# Only the labels of `target "NAME"` blocks, to name them to bake when a file has no `default`
# group (buildx 0.13 cannot list targets); bake itself reads the file.
_TARGET_LABEL = re.compile(r'^\s*target\s+"([^"]+)"', re.MULTILINE)


def is_bake_file(path: str) -> bool:
    return BAKE_RE.fullmatch(path.rsplit("/", 1)[-1]) is not None


def _print(files: Sequence[Path], targets: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
    argv = ["docker", "buildx", "bake"]
    for f in files:
        argv += ["-f", str(f)]
    return proc.run([*argv, "--print", *targets], cwd=files[0].parent, check=False)


def _target_names(files: Sequence[Path]) -> list[str]:
    names: list[str] = []
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
            names += [str(n) for n in found] if isinstance(found, dict) else []
        else:
            names += _TARGET_LABEL.findall(text)
    return list(dict.fromkeys(names))


def read(files: Sequence[Path]) -> tuple[list[BuildEntry], list[str]]:
    """Build entries of bake targets, as `docker buildx bake --print` resolves them (variables,
    functions, inherits, matrices): the `default` group, else every target."""
    origin = " + ".join(f.name for f in files)
    try:
        done = _print(files, [])
    except BuildorchError:
        return [], [f"{origin}: not read (docker buildx is not installed); its Dockerfiles "
                    "are found by name"]
    err = done.stderr.decode("utf-8", "replace")
    if done.returncode != 0 and "failed to find target default" in err:
        names = _target_names(files)
        done = _print(files, names) if names else done
        err = done.stderr.decode("utf-8", "replace")
    if done.returncode != 0:
        last = [x for x in err.strip().splitlines() if x.startswith("ERROR")] or \
            err.strip().splitlines()[-1:]
        return [], [f"{origin}: docker buildx bake --print failed ({last[-1] if last else ''})"
                    "; its Dockerfiles are found by name"]
    data = json.loads(done.stdout)
    base = files[0].parent
    entries: list[BuildEntry] = []
    for key, t in (data.get("target") or {}).items():
        context_raw = str(t.get("context") or ".")
        tags = tuple(str(x) for x in t.get("tags") or ())
        if re.match(r"[a-z]+://|git@", context_raw):
            entries.append(BuildEntry("bake", origin, key, base, base, images=tags,
                                      unplaced=f"remote build context {context_raw}"))
            continue
        context = (base / context_raw).resolve()
        if t.get("dockerfile-inline"):
            entries.append(BuildEntry("bake", origin, key, context, context, images=tags,
                                      unplaced="dockerfile-inline"))
            continue
        dockerfile = (context / str(t.get("dockerfile") or "Dockerfile")).resolve()
        args = {str(k): str(v) for k, v in (t.get("args") or {}).items() if v is not None}
        parents = tuple(str(v)[len("target:"):] for v in (t.get("contexts") or {}).values()
                        if str(v).startswith("target:"))
        entries.append(BuildEntry("bake", origin, key, context, dockerfile, t.get("target"),
                                  tuple(sorted(args.items())), tags, parents))
    return entries, []
