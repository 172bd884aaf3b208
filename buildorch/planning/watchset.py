"""What `buildorch watch` watches: every path the selected images' builds read, and the folders
that hold them. Pure: computed from a snapshot (the same one `plan` makes), no I/O.

A path is watched when it can change a selected image's digest: the context files the image
reads (what `buildorch inputs` lists), its Dockerfile, both .dockerignore files BuildKit may use
(`<Dockerfile>.dockerignore`, `<context>/.dockerignore`: creating one changes what is read) and
services.toml. The images are the selected ones and their ancestry, as `plan IMAGES` plans them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass

from buildorch.config import Config
from buildorch.planning.digest import Snapshot

# Never a trigger, whatever an image reads: git's own writes (a `git status` refreshes the
# index) and buildorch's state (every round writes its manifest and history there).
ALWAYS_IGNORED = (".git",)


@dataclass(frozen=True)
class WatchSet:
    images: frozenset[str]   # the selected images and their ancestry
    files: frozenset[str]    # root-relative posix paths; a change to one can change a digest
    dirs: frozenset[str]     # their folders ('' = the root), each watched on its own
    config: str              # services.toml, root-relative

    def relevant(self, changed: Iterable[str]) -> list[str]:
        """The changed paths that a selected image reads (or, for a folder created, moved or
        removed, that hold one), sorted."""
        out = []
        for p in changed:
            if p in self.files or self._holds(p):
                out.append(p)
        return sorted(out)

    def _holds(self, folder: str) -> bool:
        return folder in self.dirs or any(d.startswith(folder + "/") for d in self.dirs)


def ignored(path: str, hidden: Iterable[str]) -> bool:
    """`.git/` and the state folder (`Config.hidden`) never trigger a round."""
    return any(path == h or path.startswith(h + "/") for h in (*ALWAYS_IGNORED, *hidden))


def dockerignore_candidates(dockerfile: str, context: str) -> tuple[str, ...]:
    """Both files BuildKit may read as the image's .dockerignore, existing or not."""
    specific = posixpath.join(posixpath.dirname(dockerfile),
                              posixpath.basename(dockerfile) + ".dockerignore")
    root = posixpath.normpath(posixpath.join(context, ".dockerignore"))
    return (specific, root)


def watch_set(cfg: Config, snap: Snapshot, selected: Iterable[str] = ()) -> WatchSet:
    """Selected images (all when none) and their ancestry, and what they read in `snap`."""
    chosen = set(selected) or set(cfg.images)
    images = set(chosen)
    for name in chosen:
        if name in snap.graph.nodes:
            images |= snap.graph.ancestors(name)
    config = cfg.path.relative_to(cfg.root).as_posix()
    files = {config}
    for name in images:
        image = cfg.images.get(name)
        ins = snap.inputs.get(name)
        if image is None or ins is None:
            continue
        files.update(ins.files)
        files.add(image.dockerfile)
        files.update(dockerignore_candidates(image.dockerfile, image.context))
    files = {f for f in files if not ignored(f, cfg.hidden)}
    dirs = frozenset(posixpath.dirname(f) for f in files)
    return WatchSet(frozenset(images), frozenset(files), dirs, config)
