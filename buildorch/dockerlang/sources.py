"""Which context files a Dockerfile's sources read, with BuildKit's matching rules.

A COPY/ADD source without wildcards is a file or a directory (everything below it). With
wildcards it is split at the first segment holding `*`, `?` or `[` and the rest is matched
segment by segment with Go's `filepath.Match` (so `**` is just `*`); a matched directory reads
everything below it (fsutil `copy.go`, `cache/contenthash`). `COPY --parents` sources and
`--exclude` patterns use moby/patternmatcher instead (`**` spans directories, a match on a
parent directory counts). RUN bind-mount sources are literal paths.

`files` is sorted, so every literal prefix is a bisect; only wildcard segments enumerate the
children of one directory, and only `--parents` patterns scan a range with a regex.
"""

from __future__ import annotations

import re
import warnings
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Protocol

_WILDCARD = frozenset("*?[")


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


def has_wildcards(segment: str) -> bool:
    """fsutil's `containsWildcards`: a `\\` escapes the next character."""
    i = 0
    while i < len(segment):
        if segment[i] == "\\":
            i += 2
            continue
        if segment[i] in _WILDCARD:
            return True
        i += 1
    return False


def go_match_regex(segment: str) -> str | None:
    """Go's `filepath.Match` for one path segment as regex source; None for a bad pattern."""
    out: list[str] = []
    i, n = 0, len(segment)
    while i < n:
        ch = segment[i]
        i += 1
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            if i >= n:
                return None
            out.append(re.escape(segment[i]))
            i += 1
        elif ch == "[":
            klass, i = _go_class(segment, i)
            if klass is None:
                return None
            out.append(klass)
        else:
            out.append(re.escape(ch))
    return "".join(out)


def _go_class(segment: str, i: int) -> tuple[str | None, int]:
    """A `[...]` class starting after `[`: ranges, `^` negation, `\\` escapes, never empty."""
    n = len(segment)
    negate = i < n and segment[i] == "^"
    if negate:
        i += 1
    ranges: list[str] = []
    while True:
        if i < n and segment[i] == "]" and ranges:
            body = "".join(ranges)
            if not body:  # only reversed ranges
                return ("[^\\s\\S]" if not negate else "[^/]"), i + 1
            return ("[^" if negate else "[") + body + "]", i + 1
        lo, i = _go_class_char(segment, i)
        if lo is None:
            return None, i
        if i < n and segment[i] == "-":
            hi, i = _go_class_char(segment, i + 1)
            if hi is None:
                return None, i
            if lo <= hi:  # Go accepts a reversed range; it matches nothing
                ranges.append(f"{re.escape(lo)}-{re.escape(hi)}")
            else:
                ranges.append("")
        else:
            ranges.append(re.escape(lo))


def _go_class_char(segment: str, i: int) -> tuple[str | None, int]:
    if i >= len(segment) or segment[i] in "-]":
        return None, i
    if segment[i] == "\\":
        i += 1
        if i >= len(segment):
            return None, i
    return segment[i], i + 1


class PatternMatcher:
    """moby/patternmatcher: `!` exceptions, `**`, and a match on a parent directory counts."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns: list[tuple[bool, str, re.Pattern[str] | None, str, int]] = []
        for raw in patterns:
            p = raw.strip()
            if not p:
                continue
            p = go_clean(p)
            exclusion = p.startswith("!")
            if exclusion:
                p = p[1:]
            kind, regex = _compile_pattern(p)
            self.patterns.append((exclusion, kind, regex, p, len(p.split("/"))))

    @staticmethod
    def _match(kind: str, regex: re.Pattern[str] | None, pattern: str, path: str) -> bool:
        if kind == "exact":
            return path == pattern
        if kind == "prefix":
            return path.startswith(pattern[:-2])
        if kind == "suffix":
            suffix = pattern[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        return regex is not None and regex.match(path) is not None

    def matches(self, path: str) -> bool:
        """`MatchesOrParentMatches`."""
        matched = False
        parents = path.split("/")[:-1]
        for exclusion, kind, regex, pattern, _ in self.patterns:
            if exclusion != matched:
                continue
            hit = self._match(kind, regex, pattern, path)
            for depth in range(1, len(parents) + 1):
                if hit:
                    break
                hit = self._match(kind, regex, pattern, "/".join(parents[:depth]))
            if hit:
                matched = not exclusion
        return matched


def _compile_pattern(pattern: str) -> tuple[str, re.Pattern[str] | None]:
    """`Pattern.compile`: the exact/prefix/suffix shortcuts are part of the semantics."""
    out = ["^"]
    kind = "exact"
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        first = i == 0
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1
                if i >= n:
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        out.append(".*")
                        kind = "regexp"
                else:
                    out.append("(.*/)?")
                    kind = "regexp"
                if first:
                    kind = "suffix"
            else:
                out.append("[^/]*")
                kind = "regexp"
        elif ch == "?":
            out.append("[^/]")
            kind = "regexp"
        elif ch in ".+()|{}$":
            out.append("\\" + ch)
        elif ch == "\\":
            if i < n:
                out.append("\\" + pattern[i])
                i += 1
                kind = "regexp"
            else:
                out.append("\\\\")
        elif ch in "[]":
            out.append(ch)
            kind = "regexp"
        else:
            out.append(ch)  # passed through unescaped, as patternmatcher does
    if kind != "regexp":
        return kind, None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return "regexp", re.compile("".join(out) + r"\Z", re.DOTALL)
    except re.error:
        return "regexp", None


def go_clean(path: str) -> str:
    """Go's `path.Clean`."""
    if not path:
        return "."
    rooted = path.startswith("/")
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(part)
    cleaned = "/".join(out)
    return ("/" + cleaned) if rooted else (cleaned or ".")


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
        body = go_match_regex(segment)
        if body is None:
            return None
        regex = re.compile(body + r"\Z", re.DOTALL)
        roots = [_join(r, name) for r in roots for name in tree.children(r)
                 if regex.match(name)]
    body = go_match_regex(segments[-1])
    if body is None:
        return None
    found: list[str] = []
    for root in roots:
        lo, hi = tree.under(root)
        # a match is the file itself or a directory whose whole content is read
        regex = re.compile(re.escape(_join(root, "")) + body + r"(?:/|\Z)", re.DOTALL)
        found.extend(f for f in tree.files[lo:hi] if regex.match(f))
    return found


def match_sources(sources: Iterable[Source], files: Sequence[str]) -> tuple[set[str], list[str]]:
    """The subset of `files` (sorted, context-relative) that `sources` read, and notes."""
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
        where = f"line {src.line}: {src.instruction} source {src.pattern!r}"
        if not literal:
            if src.parents:
                found: list[str] | None = _match_parents(tree, src.pattern)
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
            notes.append(f"{where} is not in the context (BuildKit fails: not found)")
        elif src.excludes and not src.parents:
            # --exclude patterns are matched below the source, relative to it (the base
            # BuildKit uses); a source matched by wildcards keeps its excludes unapplied,
            # which can only make us count more files, never fewer
            matcher = PatternMatcher(src.excludes)
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


def _match_parents(tree: _Files, pattern: str) -> list[str]:
    """`COPY --parents` include pattern over the literal prefix before its first wildcard."""
    segments = pattern.split("/")
    split = next(i for i, s in enumerate(segments) if has_wildcards(s))
    lo, hi = tree.under("/".join(segments[:split]))
    matcher = PatternMatcher([pattern])
    return [f for f in tree.files[lo:hi] if matcher.matches(f)]
