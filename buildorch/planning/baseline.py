"""Glue between the edges and the core: open the config, take snapshots, make plans."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from buildorch import config as config_mod
from buildorch.config import Config
from buildorch.edges.git import CommitTree, Tree, WorkTree
from buildorch.edges.inputcache import FOLDER, PERMS
from buildorch.edges.state import Record, load_manifest
from buildorch.errors import BuildorchError, ConfigError
from buildorch.planning.digest import Snapshot, snapshot
from buildorch.planning.dockerfiles import unconfigured_bases
from buildorch.planning.links import config_links, link_notes
from buildorch.planning.plan import Plan, make_plan
from buildorch.planning.reuse import Reuse


def open_config(path: Path | None) -> Config:
    return config_mod.load(path if path else config_mod.find_config(Path.cwd()))


def scan(cfg: Config) -> WorkTree:
    """The working tree, its permission scan kept beside the input cache."""
    return WorkTree.scan(cfg.root, cfg.hidden, cfg.state_dir / FOLDER / PERMS)


def work_snapshot(cfg: Config) -> Snapshot:
    tree = scan(cfg)
    return snapshot(cfg, tree, _reuse(cfg, tree))


def _reuse(cfg: Config, tree: WorkTree) -> Reuse | None:
    """The last plan's inputs, where there is git to say what changed since."""
    return Reuse.open(cfg, tree) if (cfg.root / ".git").exists() else None


def config_at(cfg: Config, tree: Tree) -> tuple[Config, str | None]:
    """services.toml as it was in `tree`; the current one (with a note) when it was not there
    or did not parse then."""
    rel = cfg.path.relative_to(cfg.root).as_posix()
    data = tree.read_bytes(rel)
    if data is None:
        return cfg, f"{rel} is not in {tree.label}: using the current one on both sides"
    try:
        old = config_mod.parse(data.decode("utf-8", "replace"), cfg.path, cfg.root,
                               is_file=tree.is_file, is_dir=tree.is_dir)
    except ConfigError as exc:
        return cfg, (f"{rel} in {tree.label} is not valid ({exc.problems[0]}); "
                     "using the current one on both sides")
    return old, None


@dataclass(frozen=True)
class PlanResult:
    plan: Plan
    snapshot: Snapshot
    notes: tuple[str, ...]


def plan(cfg: Config, *, since: str | None = None, selected: Iterable[str] = (),
         force_all: bool = False, engine: Mapping[str, str | None] | None = None,
         ancestry: bool = True) -> PlanResult:
    """`engine`: image name -> digest label of what the engine holds under its tag.
    `ancestry=False`: `selected` alone, their parents taken as they are."""
    tree = scan(cfg)   # git status runs while the manifest is read
    reuse = _reuse(cfg, tree)
    manifest = None
    if since is None:
        manifest = reuse.manifest() if reuse else load_manifest(cfg.state_dir)
    now = snapshot(cfg, tree, reuse)
    notes: list[str] = []
    baseline: dict[str, Record]
    if since is not None:
        then = CommitTree.at(cfg.root, since)
        old_cfg, note = config_at(cfg, then)
        if note:
            notes.append(note)
        try:
            baseline = dict(snapshot(old_cfg, then).records)
        except BuildorchError as exc:
            notes.append(f"cannot analyse {then.label} ({exc}); every image counts as changed")
            baseline = {}
        what = since
    else:
        assert manifest is not None
        if manifest.warning:
            notes.append(manifest.warning)
        baseline = dict(manifest.records)
        what = "the manifest"
    for name, ins in now.inputs.items():
        notes.extend(f"{name}: {n}" for n in ins.notes)
    external = {n: i.external_images for n, i in now.inputs.items()}
    notes.extend(unconfigured_bases(cfg, external, tree.paths))
    notes.extend(link_notes(cfg, config_links(cfg, external)))
    result = make_plan(now, baseline, what=what, selected=selected, force_all=force_all,
                       engine=engine, ancestry=ancestry)
    return PlanResult(result, now, tuple(notes))
