"""moby/patternmatcher, the one matcher behind .dockerignore and `COPY --parents/--exclude`.

Upstream: github.com/moby/patternmatcher v0.6.0 `patternmatcher.go` (`New`, `Pattern.compile`,
`Pattern.match`, `MatchesOrParentMatches`). `New` checks each pattern with `filepath.Match`'s
syntax rules and turns it into a *Go* regular expression, translated here by
`golang.regexp_to_python`; the exact/prefix/suffix shortcuts of `compile` are part of the
semantics. An invalid pattern is an error, as it fails the build in Docker.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from buildorch.dockerlang.golang import (
    BadPattern,
    Unsupported,
    check_match_pattern,
    clean,
    regexp_to_python,
    trim_space,
)
from buildorch.errors import BuildorchError

__all__ = ["PatternMatcher", "Rule", "any_of", "new_rule"]

_EXACT, _PREFIX, _SUFFIX, _REGEXP = "exact", "prefix", "suffix", "regexp"
_GO_ESCAPED = frozenset(".+()|{}$")  # shouldEscape; note '^' is NOT escaped, it stays an anchor


def _moby_regex(pattern: str) -> tuple[str, str]:
    """Port of Pattern.compile with '/' as separator: (match type, Go regexp source)."""
    reg = "^"
    kind = _EXACT
    # text/scanner drops a BOM at the start of its input.
    pos = 1 if pattern.startswith("\ufeff") else 0
    n = len(pattern)
    first = True  # Go's loop counter i == 0: counts loop turns, not characters
    while pos < n:
        ch = pattern[pos]
        pos += 1
        if ch == "*":
            if pos < n and pattern[pos] == "*":
                pos += 1
                if pos < n and pattern[pos] == "/":  # "**/" is treated as "**"
                    pos += 1
                if pos >= n:
                    if kind == _EXACT:
                        kind = _PREFIX
                    else:
                        reg += ".*"
                        kind = _REGEXP
                else:
                    reg += "(.*/)?"
                    kind = _REGEXP
                if first:
                    kind = _SUFFIX
            else:
                reg += "[^/]*"
                kind = _REGEXP
        elif ch == "?":
            reg += "[^/]"
            kind = _REGEXP
        elif ch in _GO_ESCAPED:
            reg += "\\" + ch
        elif ch == "\\":
            if pos < n:
                reg += "\\" + pattern[pos]
                pos += 1
                kind = _REGEXP
            else:
                reg += "\\"
        elif ch in "[]":
            reg += ch
            kind = _REGEXP
        else:
            reg += ch
        first = False
    if kind == _REGEXP:
        reg += "$"
    return kind, reg



@dataclass(frozen=True, slots=True)
class Rule:
    exclusion: bool
    test: Callable[[str], bool]
    # The same test as a Python regexp, for the combined pre-check; matched against the whole
    # path, or from just after its last '/' when `on_name` is set.
    alternative: str
    on_name: bool = False


def _compile_rule(text: str, exclusion: bool) -> Rule:
    kind, go = _moby_regex(text)
    test: Callable[[str], bool]
    name = text[3:]
    if text.startswith("**/") and name and not any(c in name for c in "/[\\^") and "**" not in name:
        return _name_rule(name, kind, exclusion)
    if kind == _EXACT:
        alternative = re.escape(text) + r"\Z"

        def test(path: str) -> bool:
            return path == text

    elif kind == _PREFIX:
        prefix = text[:-2]
        alternative = re.escape(prefix)

        def test(path: str) -> bool:
            return path.startswith(prefix)

    elif kind == _SUFFIX and text.startswith("\ufeff"):
        # Go slices the *bytes* after the skipped BOM: "[2:]" cuts the BOM's UTF-8 in half.
        raw = text.encode("utf-8", "surrogatepass")[2:]
        alternative = ""  # matches everything, so the exact test below always runs

        def test(path: str) -> bool:
            return path.encode("utf-8", "surrogatepass").endswith(raw)

    elif kind == _SUFFIX:
        suffix = text[2:]
        alternative = f"(?s:.*){re.escape(suffix)}\\Z"
        if suffix.startswith("/"):  # "**/foo" also matches "foo"
            alternative += f"|{re.escape(suffix[1:])}\\Z"

        def test(path: str) -> bool:
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])

    else:
        alternative = _compile_go(go)
        match = re.compile(alternative).match

        def test(path: str) -> bool:
            return match(path) is not None

    return Rule(exclusion, test, alternative)


def _name_rule(name: str, kind: str, exclusion: bool) -> Rule:
    """'**/NAME' where NAME cannot match a '/': a test on the last path component only.

    Not a change of meaning, only of speed: such patterns are the common case ('**/*.pyc',
    '**/__pycache__'), and matching them against whole paths costs most of the filter's time.
    """
    if kind == _SUFFIX:  # no wildcard: HasSuffix("/NAME") or == "NAME"
        alternative = re.escape(name) + r"\Z"

        def test_literal(path: str) -> bool:
            return path.endswith("/" + name) or path == name

        return Rule(exclusion, test_literal, alternative, on_name=True)
    # "^(.*/)?NAME$": Go's '.' does not match '\n', so a newline before the last '/' fails it.
    alternative = _compile_go(_moby_regex(name)[1].removeprefix("^"))
    match = re.compile(alternative).match

    def test(path: str) -> bool:
        slash = path.rfind("/")
        return match(path, slash + 1) is not None and "\n" not in path[: max(slash, 0)]

    return Rule(exclusion, test, alternative, on_name=True)


def _compile_go(go: str) -> str:
    # Go compiles the regexp on first use and fails the build if it is invalid.
    try:
        alternative = regexp_to_python(go)
        re.compile(alternative)
    except (BadPattern, re.error) as error:
        raise BadPattern(
            f"{error}; Docker cannot compile it and fails the build, so fix or remove it"
        ) from None
    return alternative


def new_rule(pattern: str, what: str = "pattern") -> Rule | None:
    """patternmatcher.New for one pattern: None for a blank one; `what` names it in errors."""
    p = trim_space(pattern)
    if not p:
        return None
    try:
        # New cleans *before* looking at '!': "!/" becomes "!", which is rejected below.
        p = clean(p)
        exclusion = p[0] == "!"
        if exclusion:
            if len(p) == 1:
                raise BadPattern('a lone "!" excludes nothing; put a path after it or remove it')
            p = p[1:]
        check_match_pattern(p)
        return _compile_rule(p, exclusion)
    except BadPattern as error:
        raise BuildorchError(f"bad {what} {pattern!r}: {error}") from None
    except Unsupported as error:
        raise BuildorchError(
            f"{what} {pattern!r} uses {error}, which buildorch cannot reproduce; "
            "rewrite it without them"
        ) from None



Matcher = Callable[[str, int], object] | None


def any_of(rules: Iterable[Rule]) -> Matcher:
    alternatives = [f"(?:{rule.alternative})" for rule in rules]
    return re.compile("|".join(alternatives)).match if alternatives else None



class PatternMatcher:
    """`patternmatcher.New(patterns)`: `!` exceptions, `**`, the last matching pattern wins."""

    def __init__(self, patterns: Sequence[str], what: str = "pattern") -> None:
        self.rules = tuple(r for r in (new_rule(p, what) for p in patterns) if r is not None)

    def matches(self, path: str) -> bool:
        """`MatchesOrParentMatches`: a match on a parent directory counts."""
        matched = False
        parents = path.split("/")[:-1]
        for rule in self.rules:
            if rule.exclusion != matched:
                continue
            hit = rule.test(path)
            for depth in range(1, len(parents) + 1):
                if hit:
                    break
                hit = rule.test("/".join(parents[:depth]))
            if hit:
                matched = not rule.exclusion
        return matched
