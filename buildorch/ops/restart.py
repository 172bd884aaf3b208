"""`watch --up`: recreate the compose services that run an image a round rebuilt, and no other.

Compose itself reads the project (`docker compose config --format json`), says what runs
(`docker compose ps --services --status running`) and recreates (`docker compose up -d
--no-deps --no-build SVC…`): every call pinned to the run's engine like any docker subprocess
(`proc.run`). A service runs an image when its `image:` is one of the image's references.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from buildorch.config import Config
from buildorch.dockerlang.reference import familiar_reference
from buildorch.edges import proc
from buildorch.edges.git import WorkTree
from buildorch.errors import BuildorchError
from buildorch.ops import compose


def compose_files(cfg: Config, declared: Sequence[str] = ()) -> list[Path]:
    """`[project] compose` (relative to services.toml) when set, else the one compose project
    `buildorch init` finds in the repository (compose.yaml with its override, …)."""
    if declared:
        files = [cfg.path.parent / f for f in declared]
        for f in files:
            if not f.is_file():
                raise BuildorchError(f"{cfg.path.name}: [project] compose names {f}, which is "
                                     "not a file: fix the path (relative to services.toml)")
        return files
    groups = compose.projects(list(WorkTree.scan(cfg.root, cfg.hidden).paths()))
    if not groups:
        raise BuildorchError(f"--up: no compose file in {cfg.root}: add one, or name it as "
                             f"[project] compose in {cfg.path.name}")
    if len(groups) > 1:
        found = "; ".join(" + ".join(g) for g in groups)
        raise BuildorchError(f"--up: {len(groups)} compose projects in {cfg.root} ({found}): "
                             f"name the one to restart as [project] compose in {cfg.path.name}")
    return [cfg.root / p for p in groups[0]]


class ComposeProject:
    """The compose project `watch --up` restarts services of."""

    def __init__(self, cfg: Config, files: Sequence[Path]) -> None:
        self.cfg = cfg
        self.files = list(files)
        self.label = " + ".join(str(f.relative_to(cfg.root)) if f.is_relative_to(cfg.root)
                                else str(f) for f in self.files)

    def _argv(self) -> list[str]:
        argv = ["docker", "compose", "--project-directory", str(self.files[0].parent)]
        for f in self.files:
            argv += ["-f", str(f)]
        return argv

    def services_running(self, images: Iterable[str]) -> list[str]:
        """The services that run one of `images` (configured names) and are running now."""
        wanted = {familiar_reference(ref): name for name in images
                  for ref in self.cfg.refs(name)}
        if not wanted:
            return []
        spec = compose.load_plugin(self.files).get("services")
        services = spec if isinstance(spec, dict) else {}
        matching = sorted(str(key) for key, svc in services.items()
                          if isinstance(svc, dict) and isinstance(svc.get("image"), str)
                          and familiar_reference(svc["image"]) in wanted)
        if not matching:
            return []
        done = proc.run([*self._argv(), "ps", "--services", "--status", "running"],
                        cwd=self.files[0].parent, check=False)
        if done.returncode != 0:
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise BuildorchError(f"{self.label}: docker compose ps failed"
                                 + (f" ({tail[-1]})" if tail else "")
                                 + "; check the compose file and the engine")
        running = set(done.stdout.decode().split())
        return [s for s in matching if s in running]

    def recreate(self, services: Sequence[str]) -> None:
        """Recreate exactly `services` on their new images: no dependency started, no build."""
        if services:
            proc.run([*self._argv(), "up", "-d", "--no-deps", "--no-build", *services],
                     cwd=self.files[0].parent)
