"""One digest function over a tree view: an image's inputs plus its parents' digests."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from buildorch.config import Config
from buildorch.edges.git import Tree
from buildorch.edges.state import Record
from buildorch.planning.graph import ImageGraph
from buildorch.planning.inputs import ImageInputs, Reader, infer_parents, resolved_analyses

if TYPE_CHECKING:
    from buildorch.dockerlang.analysis import Analysis
    from buildorch.planning.reuse import Reuse

DIGEST_VERSION = 3  # 3: FROM hashed as resolved, global ARG lines not hashed


@dataclass(frozen=True)
class Snapshot:
    label: str
    graph: ImageGraph
    records: Mapping[str, Record]
    inputs: Mapping[str, ImageInputs] = field(default_factory=dict)


def image_digest(inputs: ImageInputs, parents: Mapping[str, str],
                 labels: Mapping[str, str] | None = None) -> str:
    parts: list[object] = [DIGEST_VERSION, inputs.instructions, inputs.args, inputs.target,
                           inputs.platform, sorted(parents.items())]
    if labels:   # only when set: images without labels keep the digests they had
        parts.append(sorted(labels.items()))
    h = hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode())
    # The file list is the bulk (50,000 entries on a big repo): NUL-separated, as neither a
    # path nor an identity can hold a NUL; sorted, so the order of discovery never matters.
    h.update("\0".join(f"{p}\0{i}" for p, i in sorted(inputs.files.items())).encode(
        "utf-8", "surrogateescape"))
    return h.hexdigest()


def snapshot(config: Config, tree: Tree, reuse: Reuse | None = None) -> Snapshot:
    """`reuse`: inputs and digests of the last plan, taken where nothing they read changed."""
    reader = Reader(config, tree)
    if reuse is None:
        first: Mapping[str, Analysis | None] = {
            name: reader.analysis(image) for name, image in config.images.items()}
        external = {n: a.external_images if a else () for n, a in first.items()}
    else:
        first, external = reuse.first(reader)
    parents = infer_parents(config, external)
    graph = ImageGraph.build(
        {n: (i.tier, i.kind) for n, i in config.images.items()}, parents, list(config.tiers),
    )
    # after the graph, which refuses cycles: a child's reads follow its parents' images
    if reuse is None:
        analyses = resolved_analyses(reader, first)
        inputs = {name: reader.read(image, analyses[name])
                  for name, image in config.images.items()}
    else:
        inputs = reuse.inputs(reader, first, external)
    records: dict[str, Record] = {}
    for name in graph.order():
        ins = inputs[name]
        if ins.missing:
            continue
        ps = {p: records[p].digest for p in graph.parents(name) if p in records}
        labels = dict(config.images[name].labels)
        # labels are part of the image's services.toml entry, so of the reused entry's key
        digest = reuse.digest(name, ps) if reuse else None
        if digest is None:
            digest = image_digest(ins, ps, labels)
            if reuse:
                reuse.remember(name, ps, digest)
        records[name] = Record(
            digest=digest, instructions=ins.instructions,
            args=dict(ins.args), target=ins.target, platform=ins.platform, parents=ps,
            files=ins.files, dockerfile=ins.dockerfile, labels=labels, origins=ins.origins,
        )
    if reuse:
        reuse.save()
    return Snapshot(tree.label, graph, records, inputs)
