"""`buildorch validate`: every problem in services.toml and the Dockerfiles, not only the first."""

from __future__ import annotations

from pathlib import Path

from buildorch import config as config_mod
from buildorch.edges.git import WorkTree
from buildorch.errors import BuildorchError, ConfigError
from buildorch.planning.dockerfiles import unconfigured_bases
from buildorch.planning.graph import ImageGraph
from buildorch.planning.inputs import Reader, infer_parents


def problems(path: Path | None) -> list[str]:
    try:
        path = (path or config_mod.find_config(Path.cwd())).resolve()
        text = config_mod.read_text(path)
    except ConfigError as exc:
        return exc.problems
    except BuildorchError as exc:
        return [str(exc)]
    try:
        cfg, found = config_mod.parse_lenient(text, path)
    except ConfigError as exc:  # a TOML syntax error leaves nothing to check further
        return exc.problems
    tree = WorkTree.scan(cfg.root, cfg.hidden)
    reader = Reader(cfg, tree)
    external: dict[str, tuple[str, ...]] = {}
    for name, image in cfg.images.items():
        try:
            analysis = reader.analysis(image)
        except BuildorchError as exc:   # already names the Dockerfile and the table
            found.append(f"{path.name}: {exc}")
            continue
        if analysis is not None:
            external[name] = analysis.external_images
            try:
                reader.read(image)
            except BuildorchError as exc:
                found.append(f"{path.name}: {exc}")
    found += [f"{path.name}: {line}" for line in unconfigured_bases(cfg, external, tree.paths())]
    try:
        ImageGraph.build({n: (i.tier, i.kind) for n, i in cfg.images.items()},
                         infer_parents(cfg, external), list(cfg.tiers))
    except BuildorchError as exc:
        found.append(f"{path.name}: {exc}")
    return found
