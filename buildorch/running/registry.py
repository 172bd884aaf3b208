"""The run's traffic with the registry: images of the same inputs pulled instead of built,
parents pushed for children on other builders (and pinned by digest), images built elsewhere
pulled into this engine, the tag of each build's inputs pushed for teammates and CI, and cache
warming."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from buildorch.config import Config, context_kind
from buildorch.dockerlang.reference import context_key
from buildorch.edges.engine import Engine
from buildorch.errors import BuildorchError
from buildorch.planning.digest import Snapshot
from buildorch.planning.links import Links
from buildorch.running.buildx import BuildResult
from buildorch.running.events import Event, Warned, one_line
from buildorch.running.spec import BuildSpec, named_context
from buildorch.running.strategy import Strategy


def reuse_ref(cfg: Config, name: str, digest: str) -> str:
    """The tag that names exactly these inputs: whoever built them, anywhere, pushed it."""
    return f"{cfg.repository(name)}:bo-{digest[:12]}"


@dataclass
class Registry:
    """Pushes and pulls of one run, from the worker threads; failures are BuildorchError (the
    image fails) or a warning through `emit` (only a cost), as each method says."""

    cfg: Config
    engine: Engine
    snap: Snapshot
    strategy: Strategy
    emit: Callable[[Event], None]
    links: Links | None = None     # each child's FROM links (planning/links.py)
    pushed: dict[str, str] = field(default_factory=dict)   # image -> digest in the registry
    push_lock: threading.Lock = field(default_factory=threading.Lock)

    def pushed_digest(self, name: str) -> str:
        """The registry digest of `name` as built or held here: pushed now if need be, under
        the tag of its inputs (bo-<digest>), never over the registry's {tag} that teammates
        and CI pull (unless the run is a --push)."""
        with self.push_lock:
            if name not in self.pushed:
                cfg = self.cfg
                ref = reuse_ref(cfg, name, self.snap.records[name].digest)
                self.engine.tag(cfg.ref(name), ref)
                self.pushed[name] = self.engine.push(ref)
            return self.pushed[name]

    def tagged(self, spec: BuildSpec, digest: str, cache_to: Iterable[str]) -> BuildSpec:
        """The build's tags: the tag of its inputs too when the registry cache is written (for
        teammates and CI to reuse); an image built away goes to the registry only."""
        cfg, name = self.cfg, spec.name
        if cfg.registry and "registry" in cache_to:
            spec = replace(spec, tags=(*spec.tags, reuse_ref(cfg, name, digest)))
        if name in self.strategy.parents.built_remotely and not spec.push:
            # Its store is not this engine's: the registry carries it here and to its children,
            # under the tag of its inputs; this engine tags it {tag} when it pulls it.
            spec = replace(spec, push=True, tags=(reuse_ref(cfg, name, digest),))
        return spec

    def pinned(self, spec: BuildSpec) -> BuildSpec:
        """A child reads exactly the parent just built, by every name its FROM lines use for
        it. On another builder (or of a parent built elsewhere) each name is bound to the
        parent's digest in the registry; on the same engine, a FROM that is not one of the
        parent's own tags (another registry, another tag) is bound to the parent's tag."""
        cfg = self.cfg
        links = self.links.links.get(spec.name, ()) if self.links else ()
        remote = self.strategy.parents.pins.get(spec.name, ())
        contexts: dict[str, tuple[str, str]] = {}   # BuildKit's lookup key -> (name, source)
        # The image's own named contexts first: one wins over a FROM name it shares a lookup
        # key with, as in BuildKit. A `target:` one is a parent, pinned as a FROM parent is
        # (by its registry digest across builders; on one engine its tag names the image the
        # run just built: a local `repo@<id>` is not resolved reliably, measured on Engine 26.1)
        targets = dict(cfg.images[spec.name].contexts)
        for cname, source in spec.build_contexts:
            kind, rest = context_kind(targets.get(cname, ""))
            if kind == "target" and rest in remote:
                source = named_context(cfg, targets[cname], self.pushed_digest(rest))
            contexts[context_key(cname)] = (cname, source)
        for p in remote:
            source = f"docker-image://{cfg.repository(p)}@{self.pushed_digest(p)}"
            for ref in (*cfg.refs(p), *(k.ref for k in links if k.parent == p)):
                contexts.setdefault(context_key(ref), (ref, source))
        for k in links:
            if not k.exact and k.parent not in remote:
                contexts.setdefault(context_key(k.ref),
                                    (k.ref, f"docker-image://{cfg.ref(k.parent)}"))
        merged = tuple(contexts.values())
        return replace(spec, build_contexts=merged) if merged != spec.build_contexts else spec

    def tag_all(self, name: str) -> None:
        """An image brought into this engine under its first tag: its other tags too."""
        first, *others = self.cfg.refs(name)
        for ref in others:
            self.engine.tag(first, ref)

    def bring_here(self, name: str, spec: BuildSpec, res: BuildResult) -> None:
        """An image built away (another engine, a container builder) into this engine: pulled
        by the digest buildx pushed, tagged {tag}."""
        cfg = self.cfg
        if spec.push and res.image_id:
            with self.push_lock:
                self.pushed[name] = res.image_id   # --push: the metadata's manifest digest
        if name in self.strategy.parents.built_remotely:
            if not res.image_id:
                raise BuildorchError(f"built on {self.strategy.builder(cfg, name).describe()} "
                                     "but buildx reported no pushed digest")
            self.engine.pull_digest(cfg.repository(name), res.image_id, cfg.ref(name))
            self.tag_all(name)

    def publish(self, name: str, spec: BuildSpec) -> None:
        """After its smoke check: what a child on another builder reads (a failed push fails
        the image: its children could not be pinned to it)."""
        if name in self.strategy.parents.push_after_build and not spec.push:
            self.pushed_digest(name)

    def share(self, name: str, spec: BuildSpec) -> None:
        """After a good build, best-effort: the tag of its inputs, so that teammates and CI
        can reuse it (only that tag: an image's own `tags` are pushed by --push alone)."""
        ref = reuse_ref(self.cfg, name, self.snap.records[name].digest)
        if ref in spec.tags and not spec.push:
            try:
                self.engine.push(ref)
            except Exception as exc:
                self.emit(Warned(name, f"push of {ref} failed "
                                 f"({one_line(str(exc))}): teammates and CI cannot reuse this "
                                 f"build; check the registry {self.cfg.registry}"))

    def pull_reused(self, name: str, digest: str) -> str | None:
        """A teammate or CI already built these exact inputs: the image id, pulled and tagged
        {tag}; None if the registry has none (or the pull failed: that only costs a build)."""
        src = reuse_ref(self.cfg, name, digest)
        if not self.engine.registry_has(src):
            return None
        try:
            image_id = self.engine.pull_as(src, self.cfg.ref(name))
            self.tag_all(name)
        except Exception as exc:  # a failed pull only costs a build
            self.emit(Warned(name, f"pull of {src} failed ({one_line(str(exc))}); "
                             "building it"))
            return None
        return image_id


def warm(engine: Engine, cfg: Config, names: Iterable[str]) -> None:
    """Cache warming (seed: pre-pull existing images): failures only cost cache hits."""
    for n in names:
        with contextlib.suppress(Exception):
            engine.client.images.pull(cfg.ref(n))
