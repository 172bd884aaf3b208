"""`buildorch export bake`: the same graph as a docker-bake.json that `docker buildx bake` runs."""

from __future__ import annotations

from buildorch.config import Config
from buildorch.planning.graph import ImageGraph
from buildorch.running.builder import cache_args


def bake_file(cfg: Config, graph: ImageGraph, *, cache: bool = True,
              contexts: bool = True) -> dict[str, object]:
    targets: dict[str, object] = {}
    for name in graph.order():
        image = cfg.images[name]
        target: dict[str, object] = {
            "context": str(cfg.root / image.context),
            "dockerfile": str(cfg.root / image.dockerfile),
            "tags": [cfg.ref(name)],
            "args": {**dict(image.args), "BUILDKIT_INLINE_CACHE": "1"},
            # A parent is built in the same bake run: its FROM reference is served by the
            # parent target, never by whatever image happens to carry that tag.
        }
        if contexts:
            target["contexts"] = {cfg.ref(p): f"target:{p}" for p in graph.parents(name)}
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
