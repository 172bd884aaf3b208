"""What one image's build reads: its Dockerfile analysis and the context files it really uses."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from buildorch.config import Config, Image, context_kind
from buildorch.dockerlang.dockerignore import DockerIgnore, ignore_file_for
from buildorch.edges.git import Tree
from buildorch.errors import BuildorchError

if TYPE_CHECKING:
    from buildorch.dockerlang.analysis import Analysis, BaseImage, ContextSource

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
    # path -> where its read comes from, for files read only through a configured parent's
    # ONBUILD trigger or a named context: "ONBUILD COPY in base's Dockerfile, line 2"
    origins: Mapping[str, str] = field(default_factory=dict)


def _context_rel(context: str, path: str) -> str:
    return path if context == "." else f"{context}/{path}"


@dataclass
class Reader:
    """Resolves inputs image by image, sharing context listings and .dockerignore results."""

    config: Config
    tree: Tree
    _filtered: dict[tuple[str, str | None], list[str]] = field(default_factory=dict)
    _ignores: dict[str | None, DockerIgnore | None] = field(default_factory=dict)

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

    def _could_read(self, context: str, sources: Sequence[ContextSource]) -> Sequence[str]:
        """The context's files (relative, sorted) below the literal folders `sources` name:
        all `match_sources` can pick, so it picks the same from them as from the whole
        context, and a plan reading one image again lists a few folders, not the repository.
        The whole context when a source has no literal folder (`.`, `*.py`, `--parents`)."""
        from buildorch.dockerlang.golang import has_wildcards

        folders: set[str] = set()
        for src in sources:
            segments = src.pattern.rstrip("/").split("/")
            if src.parents or src.pattern.startswith("/") or \
                    any(seg in ("", ".", "..") for seg in segments):
                return self._context_all(context)
            if src.instruction.endswith("RUN") or not has_wildcards(src.pattern):
                literal = segments[:-1]   # a file, or a folder: both in their parent's list
            else:
                literal = segments[:next(i for i, seg in enumerate(segments)
                                         if has_wildcards(seg))]
            if not literal:
                return self._context_all(context)
            folders.add("/".join(literal))
        kept = [f for f in folders if not any(f.startswith(o + "/") for o in folders)]
        cut = 0 if context == "." else len(context) + 1
        return sorted(p[cut:] for f in kept for p in self.tree.under(_context_rel(context, f)))

    def context_files(self, context: str, ignore_path: str | None) -> list[str]:
        """Files Docker sends for this context, relative to the context, sorted."""
        key = (context, ignore_path)
        if key not in self._filtered:
            ignore = self._dockerignore(ignore_path)
            everything = self._context_all(context)
            self._filtered[key] = ignore.filter(everything) if ignore else everything
        return self._filtered[key]

    def named_contexts(self, image: Image) -> dict[str, str | None]:
        """The image's named contexts as the analysis takes them: None for a folder, else the
        image reference (a `target:` is the configured image's own reference)."""
        out: dict[str, str | None] = {}
        for name, value in image.contexts:
            kind, rest = context_kind(value)
            out[name] = None if kind == "path" else (
                self.config.ref(rest) if kind == "target" else rest)
        return out

    def analysis(self, image: Image, bases: Mapping[str, BaseImage] | None = None
                 ) -> Analysis | None:
        """`bases`: the configured images its FROM lines name, by reference; their ENV and
        ONBUILD triggers then count (see `resolved_analyses`)."""
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
                           image.platform or self.config.platform, bases,
                           self.named_contexts(image))
        except BuildorchError as exc:
            raise BuildorchError(f"{image.dockerfile} ({image.table}): {exc}") from None

    def read(self, image: Image, analysis: Analysis | None = None) -> ImageInputs:
        """What the build reads. `analysis`: the image's, as `resolved_analyses` gives it
        (its configured parents' ENV and ONBUILD triggers applied); read here if None."""
        platform = image.platform or self.config.platform
        if analysis is None:
            analysis = self.analysis(image)
        if analysis is None:
            return ImageInputs(image.name, image.dockerfile, "", (), image.target, platform, {},
                               (), (f"{image.dockerfile} not in {self.tree.label}",), True)
        ignore_path = ignore_file_for(image.dockerfile, image.context, self.tree.is_file)
        notes: list[str] = []
        own = [s for s in analysis.context_sources if not s.context]
        origins: dict[str, str] = {}
        if analysis.unresolved:
            read: Sequence[str] | set[str] = self.context_files(image.context, ignore_path)
            notes.extend(f"whole context counts: {r}" for r in analysis.unresolved)
        else:
            # Whether a file is read depends on its own path only (a source names it or a
            # folder above it), so select first and apply .dockerignore to the few selected:
            # the same set as filtering the whole context first, at a fraction of the cost.
            read, match_notes = self._match(own, image.context, ignore_path, origins)
            notes.extend(match_notes)
        paths = {_context_rel(image.context, p) for p in read}
        folders = dict(image.contexts)
        for name in dict.fromkeys(s.context for s in analysis.context_sources if s.context):
            folder = folders[name]
            # BuildKit applies a .dockerignore at the root of a named folder context, and
            # only that one (dockerui's NamedContext; checked on the engine)
            got, match_notes = self._match(
                [s for s in analysis.context_sources if s.context == name], folder,
                _context_rel(folder, ".dockerignore"), origins, paths)
            paths.update(_context_rel(folder, p) for p in got)
            notes.extend(match_notes)
        if image.inputs or image.ignore:
            import pathspec  # gitignore syntax, only for images that use inputs/ignore

        if image.inputs:
            spec = pathspec.GitIgnoreSpec.from_lines(image.inputs)
            paths.update(p for p in self.tree.paths() if spec.match_file(p))
        if image.ignore:
            spec = pathspec.GitIgnoreSpec.from_lines(image.ignore)
            paths = {p for p in paths if not spec.match_file(p)}
        origins = {p: o for p, o in origins.items() if p in paths}
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
            origins=origins,
        )

    def _match(self, sources: Sequence[ContextSource], context: str, ignore_path: str | None,
               origins: dict[str, str], plain: set[str] | None = None) -> tuple[set[str],
                                                                               list[str]]:
        """Context-relative files `sources` read in `context` after its .dockerignore, and
        notes. Files read only through a parent's trigger or a named context get an origin
        (repository-relative) in `origins`, unless `plain` (or a plain source) reads them."""
        from buildorch.dockerlang.analysis import match_sources

        everything = self._could_read(context, sources)
        ignore = self._dockerignore(ignore_path)

        def empty_folder(rel: str) -> bool:   # sent (not ignored) with no file in it
            return self.tree.is_dir(_context_rel(context, rel)) and \
                not (ignore is not None and ignore.excluded(rel))
        selected, notes = match_sources(sources, everything, empty_folder)
        read = set(ignore.filter(sorted(selected)) if ignore else selected)
        marked = [s for s in sources if s.via or s.context]
        if marked:
            plain_read = match_sources([s for s in sources if not (s.via or s.context)],
                                       everything)[0]
            for src in marked:
                where = _origin(src)
                for p in match_sources([src], everything)[0] & read:
                    rel = _context_rel(context, p)
                    if p not in plain_read and (plain is None or rel not in plain):
                        origins.setdefault(rel, f"{where}, line {src.line}")
        return read, notes


def _origin(src: ContextSource) -> str:
    """Where a read comes from, for reasons: `ONBUILD COPY in base's Dockerfile`."""
    what = src.instruction
    if src.context:
        what += {"FROM": f" {src.context}", "RUN": f" --mount from={src.context}"}.get(
            src.instruction.removeprefix("ONBUILD "), f" --from={src.context}")
    return f"{what} in {src.via}'s Dockerfile" if src.via else what


class Analyses(Mapping[str, "Analysis | None"]):
    """Each configured image's analysis on its own, parsed on first use."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader
        self._done: dict[str, Analysis | None] = {}

    def __getitem__(self, name: str) -> Analysis | None:
        if name not in self._done:
            self._done[name] = self._reader.analysis(self._reader.config.images[name])
        return self._done[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._reader.config.images)

    def __len__(self) -> int:
        return len(self._reader.config.images)


def resolved_analyses(reader: Reader, first: Mapping[str, Analysis | None],
                      names: Iterable[str] | None = None) -> dict[str, Analysis | None]:
    """Each image's analysis with what its configured parents' images carry: their ENV (and
    so their own parents', through any number of configured ancestors) and their ONBUILD
    triggers, run in its build as BuildKit runs them (in the immediate child only; not
    through COPY --from). `first` is each image's analysis on its own (`Reader.analysis`).

    An image is analysed again only when that can change its reads: a configured parent has
    triggers, or a variable the first analysis could not know (the base image may set it).
    What the result depends on, beyond the image's own inputs, is exactly the `BaseImage`
    values passed to `Reader.analysis`: each configured ancestor's Dockerfile, args, target
    and platform (a reuse key must hold them, e.g. as `bases_key`). `names`: only these
    images' (their ancestors' first analyses are then the only ones `first` is asked for)."""
    from buildorch.dockerlang.analysis import BaseImage
    from buildorch.planning.links import config_resolver

    config = reader.config
    resolver = config_resolver(config)   # a FROM names a parent as links.py finds it

    def parent_of(ref: str, child: str) -> str | None:
        link = resolver.resolve(ref, child)
        return link.parent if link else None

    full: dict[str, Analysis | None] = {}

    def bases_of(name: str) -> dict[str, BaseImage]:
        a = first[name]
        out: dict[str, BaseImage] = {}
        for ref in a.external_images if a else ():
            parent = parent_of(ref, name)
            if parent is None:
                continue
            pa = analysed(parent)
            if pa is not None:
                out[ref] = BaseImage(parent, config.images[parent].dockerfile, pa.env,
                                     pa.env_open, pa.triggers)
        return out

    def analysed(name: str) -> Analysis | None:
        if name not in full:
            full[name] = None   # a cycle (said by the graph) stops here
            bases = bases_of(name)
            full[name] = reader.analysis(config.images[name], bases) if bases else first[name]
        return full[name]

    out: dict[str, Analysis | None] = {}
    for name in first if names is None else names:
        a = first[name]
        parents = [parent_of(r, name) for r in a.external_images] if a else []
        needs = a is not None and (bool(a.unresolved) or any(
            p and (pa := first.get(p)) is not None and pa.triggers for p in parents))
        out[name] = analysed(name) if needs else a
    return out


def bases_key(bases: Mapping[str, BaseImage]) -> str:
    """A stable hash of what configured parents carry into a build (for reuse caches)."""
    text = json.dumps(sorted([ref, b.name, b.env, b.open_world,
                              [(n.original, n.start_line) for n in b.triggers]]
                             for ref, b in bases.items()), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def infer_parents(config: Config, external: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Parents of each image: FROM/--from refs naming a configured image (by every reference
    it is known by: planning/links.py), then depends_on and `target:` contexts."""
    from buildorch.planning.links import config_links

    return {n: list(ps) for n, ps in config_links(config, external).parents.items()}
