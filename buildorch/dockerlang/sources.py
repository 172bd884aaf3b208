"""Which context files a Dockerfile's sources read, with BuildKit's matching rules.

A COPY/ADD source without wildcards is a file or a directory (everything below it). With
wildcards it is split at the first segment holding `*`, `?` or `[` and the rest is matched
segment by segment with Go's `filepath.Match` (so `**` is just `*`); a matched directory reads
everything below it (fsutil `copy.go`, `cache/contenthash`). `COPY --parents` sources and
`--exclude` patterns use moby/patternmatcher instead (`**` spans directories, a match on a
parent directory counts). RUN bind-mount sources are literal paths.

`files` is sorted, so every literal prefix is a bisect; only wildcard segments enumerate the
children of one directory, and only `--parents` patterns scan a range with a regex.

Upstream: tonistiigi/fsutil v0.0.0-2024 `copy/copy.go` and `cache/contenthash` (wildcard
sources), moby/buildkit v0.13 `solver/llbsolver/file/backend.go` (`--parents`, `--exclude`).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from buildorch.dockerlang.golang import has_wildcards, match_regex
from buildorch.dockerlang.patternmatcher import PatternMatcher
from buildorch.errors import BuildorchError


class Source(Protocol):
    """The fields of `dockerfile.ContextSource` this module needs."""

    @property
    def pattern(self) -> str: ...
    @property
    def instruction(self) -> str: ...
    @property
    def line(self) -> int: ...
    @property
    def parents(self) -> bool: ...
    @property
    def excludes(self) -> tuple[str, ...]: ...
    @property
    def via(self) -> str: ...


class _Files:
    """Sorted paths with prefix ranges by bisect."""

    def __init__(self, files: Sequence[str]) -> None:
        self.files = files

    def block(self, path: str) -> tuple[int, int] | None:
        """Index range of `path` itself (a file) or everything below it (a directory)."""
        files = self.files
        if not path:
            return (0, len(files)) if files else None
        i = bisect_left(files, path)
        if i < len(files) and files[i] == path:
            return i, i + 1
        lo = bisect_left(files, path + "/")
        hi = bisect_left(files, path + "0", lo)  # "0" sorts right after "/"
        return (lo, hi) if hi > lo else None

    def under(self, prefix: str) -> tuple[int, int]:
        if not prefix:
            return 0, len(self.files)
        lo = bisect_left(self.files, prefix + "/")
        return lo, bisect_left(self.files, prefix + "0", lo)

    def children(self, prefix: str) -> Iterable[str]:
        """Names directly below `prefix` ('' is the root), each once."""
        lo, hi = self.under(prefix)
        cut = len(prefix) + 1 if prefix else 0
        i = lo
        while i < hi:
            rest = self.files[i][cut:]
            slash = rest.find("/")
            if slash < 0:
                yield rest
                i += 1
            else:
                name = rest[:slash]
                yield name
                i = bisect_left(self.files, self.files[i][:cut] + name + "0", i)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def _wildcard_files(tree: _Files, segments: list[str]) -> list[str] | None:
    """Files a wildcard source reads; None if a segment is a bad pattern.

    Segments are matched one directory level at a time (enumerating only the children of
    directories matched so far), the last one with a regex over each remaining range.
    """
    split = next(i for i, s in enumerate(segments) if has_wildcards(s))
    roots = ["/".join(segments[:split])]
    for segment in segments[split:-1]:
        body = match_regex(segment)
        if body is None:
            return None
        regex = re.compile(body + r"\Z", re.DOTALL)
        roots = [_join(r, name) for r in roots for name in tree.children(r)
                 if regex.match(name)]
    body = match_regex(segments[-1])
    if body is None:
        return None
    found: list[str] = []
    for root in roots:
        lo, hi = tree.under(root)
        # a match is the file itself or a directory whose whole content is read
        regex = re.compile(re.escape(_join(root, "")) + body + r"(?:/|\Z)", re.DOTALL)
        found.extend(f for f in tree.files[lo:hi] if regex.match(f))
    return found


FAILS = "(BuildKit fails"   # in a note: the build cannot succeed from this context


def fails_build(note: str) -> bool:
    """Is this note of match_sources one BuildKit turns into a failed build (a source not in
    the context, a pattern it rejects), rather than a remark (a glob that matches nothing)?"""
    return FAILS in note


def match_sources(sources: Iterable[Source], files: Sequence[str],
                  empty_folder: Callable[[str], bool] | None = None
                  ) -> tuple[set[str], list[str]]:
    """The subset of `files` (sorted, context-relative) that `sources` read, and notes.
    `empty_folder(path)`: is this a folder the context sends with no file in it (BuildKit
    copies it, empty: no failure)."""
    tree = _Files(files)
    ranges: list[tuple[int, int]] = []
    picked: set[str] = set()
    notes: list[str] = []
    seen: set[tuple[str, bool, bool, tuple[str, ...]]] = set()
    for src in sources:
        literal = src.instruction.endswith("RUN") or not has_wildcards(src.pattern)
        key = (src.pattern, literal, src.parents, src.excludes)
        if key in seen:
            continue
        seen.add(key)
        # a configured parent's ONBUILD trigger: its line is in that parent's Dockerfile
        at = f"{src.via}'s Dockerfile line {src.line}" if src.via else f"line {src.line}"
        where = f"{at}: {src.instruction} source {src.pattern!r}"
        if not literal:
            if src.parents:
                found: list[str] | None = _match_parents(tree, src.pattern)
                if found is None:
                    notes.append(f"{where} is not a valid pattern (BuildKit fails: syntax "
                                 "error in pattern)")
                    continue
            else:
                found = _wildcard_files(tree, src.pattern.split("/"))
            if found is None:
                notes.append(f"{where} is not a valid pattern (BuildKit fails: syntax error "
                             "in pattern)")
            elif not found:
                notes.append(f"{where} matches no file (BuildKit copies nothing)")
            picked.update(found or ())
            continue
        root = "" if src.pattern == "." else src.pattern
        block = tree.block(root)
        if block is None:
            if empty_folder is not None and root and empty_folder(root):
                notes.append(f"{where} is an empty folder (BuildKit copies nothing from it)")
            else:
                notes.append(f"{where} is not in the context (BuildKit fails: not found)")
        elif src.excludes and not src.parents:
            # --exclude patterns are matched below the source, relative to it (the base
            # BuildKit uses); a source matched by wildcards keeps its excludes unapplied,
            # which can only make us count more files, never fewer
            try:
                matcher = PatternMatcher(src.excludes, "--exclude pattern")
            except BuildorchError as exc:
                notes.append(f"line {src.line}: {exc} (BuildKit fails the build)")
                ranges.append(block)
                continue
            cut = len(root) + 1 if root else 0
            lo, hi = block
            picked.update(f for f in files[lo:hi] if f == root or not matcher.matches(f[cut:]))
        else:
            ranges.append(block)
    end = 0  # ranges overlap when sources overlap: add each file once
    for lo, hi in sorted(ranges):
        if hi > end:
            picked.update(files[max(lo, end):hi])
            end = hi
    return picked, notes


def _match_parents(tree: _Files, pattern: str) -> list[str] | None:
    """`COPY --parents` include pattern over the literal prefix before its first wildcard;
    None for a pattern patternmatcher rejects."""
    segments = pattern.split("/")
    split = next(i for i, s in enumerate(segments) if has_wildcards(s))
    lo, hi = tree.under("/".join(segments[:split]))
    try:
        matcher = PatternMatcher([pattern])
    except BuildorchError:
        return None
    return [f for f in tree.files[lo:hi] if matcher.matches(f)]
