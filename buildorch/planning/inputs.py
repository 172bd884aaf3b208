"""What one image's build reads: its Dockerfile analysis and the context files it really uses."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from buildorch.config import Config, Image
from buildorch.dockerlang.dockerignore import DockerIgnore, ignore_file_for
from buildorch.edges.git import Tree
from buildorch.errors import BuildorchError

if TYPE_CHECKING:
    from buildorch.dockerlang.analysis import Analysis

# Over this, `docker buildx build` fails seconds in with a gRPC "message larger than max"
# naming neither the file nor a fix: plan and validate say it first.
MAX_DOCKERFILE_BYTES = 2 * 2**20


@dataclass(frozen=True)
class ImageInputs:
    name: str
    dockerfile: str
    instructions: str              # hash of the parser directives and instructions that count
    args: tuple[tuple[str, str], ...]   # consumed build args given in services.toml
    target: str | None
    platform: str | None
    files: Mapping[str, str]       # repo-relative path -> identity (mode:blob)
    external_images: tuple[str, ...]
    notes: tuple[str, ...] = ()    # e.g. why the whole context counts
    missing: bool = False          # the Dockerfile is not in this tree


def _context_rel(context: str, path: str) -> str:
    return path if context == "." else f"{context}/{path}"


@dataclass
class Reader:
    """Resolves inputs image by image, sharing context listings and .dockerignore results."""

    config: Config
    tree: Tree
    _filtered: dict[tuple[str, str | None], list[str]] = field(default_factory=dict)
    _ignores: dict[str | None, DockerIgnore | None] = field(default_factory=dict)
    _analyses: dict[tuple[object, ...], Analysis | None] = field(default_factory=dict)

    def _dockerignore(self, path: str | None) -> DockerIgnore | None:
        if path not in self._ignores:
            escapes = getattr(self.tree, "escapes", None)
            if path and escapes is not None and (target := escapes(path)):
                raise BuildorchError(
                    f"{path} is a symlink leading outside the repository (to {target}): "
                    "replace the link with the file")
            data = self.tree.read_bytes(path) if path else None
            if data is None:
                self._ignores[path] = None
            else:
                try:
                    self._ignores[path] = DockerIgnore.from_text(
                        data.decode("utf-8", "replace"))
                except BuildorchError as exc:
                    raise BuildorchError(f"{path}: {exc}") from None
        return self._ignores[path]

    def _context_all(self, context: str) -> list[str]:
        """Every file under the context, relative to it, sorted (before .dockerignore)."""
        key = (context, "\0all")
        if key not in self._filtered:
            cut = 0 if context == "." else len(context) + 1
            self._filtered[key] = [p[cut:] for p in self.tree.under(context)]
        return self._filtered[key]

    def context_files(self, context: str, ignore_path: str | None) -> list[str]:
        """Files Docker sends for this context, relative to the context, sorted."""
        key = (context, ignore_path)
        if key not in self._filtered:
            ignore = self._dockerignore(ignore_path)
            everything = self._context_all(context)
            self._filtered[key] = ignore.filter(everything) if ignore else everything
        return self._filtered[key]

    def analysis(self, image: Image) -> Analysis | None:
        key = (image.name, image.dockerfile, image.args, image.target, image.platform)
        if key not in self._analyses:
            self._analyses[key] = self._analyze(image)
        return self._analyses[key]

    def _analyze(self, image: Image) -> Analysis | None:
        # Imported here: a plan that reuses every image never parses a Dockerfile, and the
        # parser is a tenth of its start-up.
        from buildorch.dockerlang.analysis import analyze

        data = self.tree.read_bytes(image.dockerfile)
        if data is None:
            return None
        if len(data) > MAX_DOCKERFILE_BYTES:
            raise BuildorchError(
                f"{image.dockerfile} ({image.table}) is {len(data) / 2**20:.1f} MiB: BuildKit "
                "refuses a Dockerfile near its 4 MiB message limit (a gRPC size error seconds "
                "into the build); move what it embeds into files the Dockerfile COPYs")
        try:
            return analyze(data.decode("utf-8", "replace"), dict(image.args), image.target,
                           image.platform or self.config.platform)
        except BuildorchError as exc:
            raise BuildorchError(f"{image.dockerfile} ({image.table}): {exc}") from None

    def read(self, image: Image) -> ImageInputs:
        platform = image.platform or self.config.platform
        analysis = self.analysis(image)
        if analysis is None:
            return ImageInputs(image.name, image.dockerfile, "", (), image.target, platform, {},
                               (), (f"{image.dockerfile} not in {self.tree.label}",), True)
        ignore_path = ignore_file_for(image.dockerfile, image.context, self.tree.is_file)
        notes: list[str] = []
        if analysis.unresolved:
            read: Sequence[str] | set[str] = self.context_files(image.context, ignore_path)
            notes.extend(f"whole context counts: {r}" for r in analysis.unresolved)
        else:
            # Whether a file is read depends on its own path only (a source names it or a
            # folder above it), so select first and apply .dockerignore to the few selected:
            # the same set as filtering the whole context first, at a fraction of the cost.
            from buildorch.dockerlang.analysis import match_sources

            selected, match_notes = match_sources(analysis.context_sources,
                                                  self._context_all(image.context))
            ignore = self._dockerignore(ignore_path)
            read = ignore.filter(sorted(selected)) if ignore else selected
            notes.extend(match_notes)
        paths = {_context_rel(image.context, p) for p in read}
        if image.inputs or image.ignore:
            import pathspec  # gitignore syntax, only for images that use inputs/ignore

        if image.inputs:
            spec = pathspec.GitIgnoreSpec.from_lines(image.inputs)
            paths.update(p for p in self.tree.paths() if spec.match_file(p))
        if image.ignore:
            spec = pathspec.GitIgnoreSpec.from_lines(image.ignore)
            paths = {p for p in paths if not spec.match_file(p)}
        files = self.tree.file_ids(sorted(paths))
        escapes = getattr(self.tree, "escapes", None)
        if escapes is not None:
            for p, ident in files.items():
                if ident.startswith("120000:") and (target := escapes(p)):
                    raise BuildorchError(
                        f"{p} is a symlink leading outside the repository (to {target}) and "
                        f"{image.table} reads it: replace the link with the file, or exclude "
                        "it (.dockerignore, or `ignore` in services.toml)")
        consumed = set(analysis.consumed_args)
        args = tuple((k, v) for k, v in image.args if k in consumed)
        text = json.dumps([analysis.directives, analysis.fingerprint], separators=(",", ":"))
        return ImageInputs(
            name=image.name,
            dockerfile=image.dockerfile,
            instructions=hashlib.sha256(text.encode()).hexdigest(),
            args=args,
            target=image.target,
            platform=platform,
            files=files,
            external_images=analysis.external_images,
            notes=tuple(notes),
        )


def infer_parents(config: Config, external: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Parents of each image: FROM/--from refs naming a configured image (by every reference
    it is known by: planning/links.py), then depends_on."""
    from buildorch.planning.links import config_links

    return {n: list(ps) for n, ps in config_links(config, external).parents.items()}
