"""One digest function over a tree view: an image's inputs plus its parents' digests."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from buildorch.config import Config
from buildorch.edges.git import Tree
from buildorch.planning.graph import ImageGraph
from buildorch.planning.inputs import ImageInputs, Reader, infer_parents

if TYPE_CHECKING:
    from buildorch.planning.reuse import Reuse

DIGEST_VERSION = 3  # 3: FROM hashed as resolved, global ARG lines not hashed


@dataclass(frozen=True)
class Record:
    """What the plan compares: the digest and the parts it was made of."""

    digest: str
    instructions: str
    args: Mapping[str, str]
    target: str | None
    platform: str | None
    parents: Mapping[str, str]               # parent name -> its digest
    files: Mapping[str, str] | None = None   # None when not recorded
    dockerfile: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)   # services.toml `labels`

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "digest": self.digest, "instructions": self.instructions, "args": dict(self.args),
            "target": self.target, "platform": self.platform, "parents": dict(self.parents),
            "files": None if self.files is None else dict(self.files),
            "dockerfile": self.dockerfile}
        if self.labels:
            out["labels"] = dict(self.labels)
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> Record:
        def mapping(v: object) -> dict[str, str]:
            if not isinstance(v, dict):
                raise ValueError("expected an object")
            return {str(k): str(x) for k, x in v.items()}

        files = d.get("files")
        if files is not None and not isinstance(files, dict):
            raise ValueError("files: expected an object")
        return cls(
            digest=str(d["digest"]), instructions=str(d.get("instructions", "")),
            args=mapping(d.get("args", {})),
            target=None if d.get("target") is None else str(d.get("target")),
            platform=None if d.get("platform") is None else str(d.get("platform")),
            parents=mapping(d.get("parents", {})),
            # Taken as parsed (path -> id strings): converting 50,000 entries one by one would
            # cost a no-change plan more than reading them.
            files=files,
            dockerfile=str(d.get("dockerfile", "")),
            labels=mapping(d.get("labels", {})),
        )


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
    inputs = {name: reuse.read(reader, image) if reuse else reader.read(image)
              for name, image in config.images.items()}
    parents = infer_parents(config, {n: i.external_images for n, i in inputs.items()})
    graph = ImageGraph.build(
        {n: (i.tier, i.kind) for n, i in config.images.items()}, parents, list(config.tiers),
    )
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
            files=ins.files, dockerfile=ins.dockerfile, labels=labels,
        )
    if reuse:
        reuse.save()
    return Snapshot(tree.label, graph, records, inputs)
