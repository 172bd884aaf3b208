"""Docker's .dockerignore semantics, ported from the Go code that BuildKit runs.

These are not gitignore's rules: a bare ``foo`` matches only ``./foo``, ``*.pyc`` only the top
level, ``!`` exceptions are evaluated top-down with the last match winning, and an exception can
re-include a file inside an excluded directory. Sources ported (Go, Apache-2.0 / BSD):

- ``moby/patternmatcher`` ``ignorefile/ignorefile.go`` ``ReadAll`` -> :func:`read_patterns`
- ``moby/patternmatcher`` ``MatchesUsingParentResults`` -> :class:`DockerIgnore`, over the
  rules of :mod:`buildorch.dockerlang.patternmatcher` (the one port of ``New``/``compile``)
- ``tonistiigi/fsutil`` ``filter.go`` (the walker that sends the context): every path is matched
  with the match results of its parent directory, and an excluded directory is skipped only when
  no exception could re-include anything under it, so the answer for a file is the
  parent-results chain evaluated from the top-level component down.
- ``moby/buildkit`` ``frontend/dockerui/config.go`` -> :func:`ignore_file_for`
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from buildorch.dockerlang.golang import clean as go_clean
from buildorch.dockerlang.golang import trim_space as _trim_space
from buildorch.dockerlang.patternmatcher import Matcher, Rule, any_of, new_rule
from buildorch.errors import BuildorchError

__all__ = ["DockerIgnore", "ignore_file_for", "read_patterns"]

# bufio.Scanner's default MaxScanTokenSize: a longer line makes ReadAll fail, so the build fails.
_MAX_LINE_BYTES = 64 * 1024 - 1


# --- ignorefile.ReadAll -----------------------------------------------------------------------


def read_patterns(text: str) -> tuple[str, ...]:
    """ignorefile.ReadAll: the cleaned pattern list (exceptions keep their leading '!')."""
    patterns: list[str] = []
    # bufio.ScanLines splits on '\n' only and drops one trailing '\r'; str.splitlines would also
    # split on \v, \f, \x1c... which Docker keeps inside a pattern.
    for number, raw in enumerate(text.split("\n")):
        if len(raw.encode("utf-8", "surrogatepass")) > _MAX_LINE_BYTES:
            raise BuildorchError(
                f"line {number + 1} is longer than 64 KiB, which Docker refuses to read; "
                "split or shorten it"
            )
        line = raw[:-1] if raw.endswith("\r") else raw
        if number == 0:
            line = line.removeprefix("\ufeff")
        # '#' starts a comment only as the very first character: " #x" is the pattern "#x".
        if line.startswith("#"):
            continue
        pattern = _trim_space(line)
        if not pattern:
            continue
        invert = pattern[0] == "!"
        if invert:
            pattern = _trim_space(pattern[1:])
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern[0] == "/":
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
    return tuple(patterns)


# (match result of each pattern, excluded?) for one path: what fsutil carries from a directory
# to its entries as patternmatcher.MatchInfo.
_State = tuple[tuple[bool, ...], bool]


@dataclass(frozen=True)
class DockerIgnore:
    """A compiled .dockerignore; `patterns` is what :func:`read_patterns` returns."""

    patterns: tuple[str, ...]
    _rules: tuple[Rule, ...] = field(init=False, repr=False, compare=False)
    # Whether any pattern matches a path at all (most paths match none, and then every result
    # is the parent directory's, so the per-pattern loop is rarely run): one regexp for whole
    # paths, one for last components.
    _any_path: Matcher = field(init=False, repr=False, compare=False)
    _any_name: Matcher = field(init=False, repr=False, compare=False)
    _root: _State = field(init=False, repr=False, compare=False)
    _dirs: dict[str, _State] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        patterns = tuple(self.patterns)
        rules = tuple(rule for rule in map(_dockerignore_rule, patterns) if rule is not None)
        object.__setattr__(self, "patterns", patterns)
        object.__setattr__(self, "_rules", rules)
        object.__setattr__(self, "_any_path", any_of(r for r in rules if not r.on_name))
        object.__setattr__(self, "_any_name", any_of(r for r in rules if r.on_name))
        object.__setattr__(self, "_root", ((False,) * len(rules), False))
        object.__setattr__(self, "_dirs", {})

    @classmethod
    def from_text(cls, text: str) -> DockerIgnore:
        return cls(read_patterns(text))

    def excluded(self, path: str) -> bool:
        """True if Docker would NOT send the file at `path`.

        `path` is a posix path relative to the context root, without a leading './'.
        """
        return self._state(path)[1]

    def filter(self, paths: Iterable[str]) -> list[str]:
        """The paths Docker sends, order kept."""
        if not self._rules:
            return list(paths)
        state = self._state
        return [path for path in paths if not state(path)[1]]

    def _state(self, path: str) -> _State:
        """MatchesUsingParentResults for `path`, with its parents' results cached."""
        slash = path.rfind("/")
        if slash < 0:
            parent = self._root
        else:
            directory = path[:slash]
            parent = self._dirs.get(directory) or self._dir_state(directory)
        any_path, any_name = self._any_path, self._any_name
        if (any_path is None or any_path(path, 0) is None) and (
            any_name is None or any_name(path, slash + 1) is None
        ):
            return parent  # no pattern matches the path itself: all results are inherited
        return self._evaluate(path, parent)

    def _dir_state(self, directory: str) -> _State:
        state = self._state(directory)
        self._dirs[directory] = state
        return state

    def _evaluate(self, path: str, parent: _State) -> _State:
        parent_matched = parent[0]
        results: list[bool] = []
        matched = False
        for i, rule in enumerate(self._rules):
            match = parent_matched[i]
            if not match:
                # An exception cannot change a path not excluded yet, nor an exclusion one that
                # already is; Go records such a skipped pattern as "not matched".
                if rule.exclusion != matched:
                    results.append(False)
                    continue
                match = rule.test(path)
            results.append(match)
            if match:
                matched = not rule.exclusion
        return tuple(results), matched


def _dockerignore_rule(pattern: str) -> Rule | None:
    return new_rule(pattern, ".dockerignore pattern")


# --- which ignore file ------------------------------------------------------------------------


def ignore_file_for(dockerfile: str, context: str, exists: Callable[[str], bool]) -> str | None:
    """Which ignore file BuildKit uses: `<dockerfile>.dockerignore` beside the Dockerfile wins
    over `<context>/.dockerignore`; None if neither exists. Paths are posix, relative to the
    repository root; `context` may be '.'.

    BuildKit's dockerui reads `<filename>.dockerignore` from the Dockerfile's own directory (the
    "dockerfile" local, where buildx mounts the -f file's folder) and falls back to the context's
    `.dockerignore` only when that read fails. (It checks the data for nil, so whether an
    *empty* `<Dockerfile>.dockerignore` also falls back depends on how the frontend's file read
    returns empty data; existence is taken as the rule here.)
    """
    dockerfile = go_clean(dockerfile)
    specific = posixpath.join(
        posixpath.dirname(dockerfile), posixpath.basename(dockerfile) + ".dockerignore"
    )
    if exists(specific):
        return specific
    root = go_clean(posixpath.join(context, ".dockerignore"))
    if exists(root):
        return root
    return None
