"""`buildorch validate`: every problem in services.toml and the Dockerfiles, not only the first."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from buildorch import config as config_mod
from buildorch.dockerlang.sources import fails_build
from buildorch.edges.git import WorkTree
from buildorch.errors import BuildorchError, ConfigError
from buildorch.planning.dockerfiles import unconfigured_bases
from buildorch.planning.graph import ImageGraph
from buildorch.planning.inputs import Reader, resolved_analyses
from buildorch.planning.links import config_links, link_notes

if TYPE_CHECKING:
    from buildorch.dockerlang.analysis import Analysis


def problems(path: Path | None) -> list[str]:
    """Every problem (exit 1), then `note: …` lines (exit 0 when they are all there is)."""
    _, found, notes = check(path)
    return found + [f"note: {n}" for n in notes]


def check(path: Path | None) -> tuple[Path | None, list[str], list[str]]:
    """(the file read, every problem, notes): notes say what holds but deserves a look."""
    notes: list[str] = []
    try:
        path = (path or config_mod.find_config(Path.cwd())).resolve()
        text = config_mod.read_text(path)
    except ConfigError as exc:
        return path, exc.problems, notes
    except BuildorchError as exc:
        return path, [str(exc)], notes
    try:
        cfg, found = config_mod.parse_lenient(text, path)
    except ConfigError as exc:  # a TOML syntax error leaves nothing to check further
        return path, exc.problems, notes
    tree = WorkTree.scan(cfg.root, cfg.hidden)
    reader = Reader(cfg, tree)
    external: dict[str, tuple[str, ...]] = {}
    first: dict[str, Analysis | None] = {}
    for name, image in cfg.images.items():
        try:
            first[name] = reader.analysis(image)
        except BuildorchError as exc:   # already names the Dockerfile and the table
            found.append(f"{path.name}: {exc}")
            continue
        if (a := first[name]) is not None:
            external[name] = a.external_images
    try:
        # as plan reads them: with what configured parents carry (ENV, ONBUILD triggers)
        analyses = resolved_analyses(reader, first, list(first))
    except BuildorchError as exc:
        found.append(f"{path.name}: {exc}")
        analyses = first
    for name, analysis in analyses.items():
        if analysis is None:
            continue
        image = cfg.images[name]
        try:
            inputs = reader.read(image, analysis)
        except BuildorchError as exc:
            found.append(f"{path.name}: {exc}")
            continue
        # plan's notes on the Dockerfile, said here too: one BuildKit would fail the
        # build on (a COPY source not in the context) is a problem, the rest notes
        for n in inputs.notes:
            line = f"{image.dockerfile}: {n} ({image.table})"
            (found if fails_build(n) else notes).append(line)
    found += [f"{path.name}: {line}" for line in unconfigured_bases(cfg, external, tree.paths())]
    links = config_links(cfg, external)
    notes += link_notes(cfg, links)
    try:
        ImageGraph.build({n: (i.tier, i.kind) for n, i in cfg.images.items()},
                         {n: list(ps) for n, ps in links.parents.items()}, list(cfg.tiers))
    except BuildorchError as exc:
        found.append(f"{path.name}: {exc}")
    return path, found, notes
