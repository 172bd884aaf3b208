"""Docker's .dockerignore semantics, ported from the Go code that BuildKit runs.

These are not gitignore's rules: a bare ``foo`` matches only ``./foo``, ``*.pyc`` only the top
level, ``!`` exceptions are evaluated top-down with the last match winning, and an exception can
re-include a file inside an excluded directory. Sources ported (Go, Apache-2.0 / BSD):

- ``moby/patternmatcher`` ``ignorefile/ignorefile.go`` ``ReadAll`` -> :func:`read_patterns`
- ``moby/patternmatcher`` ``patternmatcher.go`` ``New``, ``Pattern.compile``, ``Pattern.match``,
  ``MatchesUsingParentResults`` -> :class:`DockerIgnore`
- Go ``path/filepath.Match`` (pattern syntax check done by ``New``), ``path.Clean``,
  ``strings.TrimSpace``, ``text/scanner`` (which skips a leading BOM) and ``regexp/syntax``
  (moby turns a pattern into a *Go* regular expression; it is translated to Python's here)
- ``tonistiigi/fsutil`` ``filter.go`` (the walker that sends the context): every path is matched
  with the match results of its parent directory, and an excluded directory is skipped only when
  no exception could re-include anything under it, so the answer for a file is the
  parent-results chain evaluated from the top-level component down.
- ``moby/buildkit`` ``frontend/dockerui/config.go`` -> :func:`ignore_file_for`
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from buildorch.dockerlang.sources import go_clean
from buildorch.errors import BuildorchError

__all__ = ["DockerIgnore", "ignore_file_for", "read_patterns"]

# --- Go string helpers ------------------------------------------------------------------------

# unicode.IsSpace, which strings.TrimSpace uses; str.strip() would also strip \x1c-\x1f.
_GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000"
)

# bufio.Scanner's default MaxScanTokenSize: a longer line makes ReadAll fail, so the build fails.
_MAX_LINE_BYTES = 64 * 1024 - 1


def _trim_space(s: str) -> str:
    return s.strip(_GO_SPACE)


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


# --- filepath.Match syntax check (what patternmatcher.New rejects) ----------------------------


class _BadPattern(Exception):
    """A pattern Docker rejects; the message says why, for the user."""


_BAD_CLASS = (
    "has an unclosed or malformed '[...]' class, a syntax error for Docker; "
    "escape a literal '[' as '\\['"
)
_TRAILING_BACKSLASH = (
    "ends with a lone '\\', a syntax error for Docker (which also trims trailing spaces, "
    "so '\\ ' cannot keep one); remove the backslash"
)


def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    star = False
    while pattern.startswith("*"):
        pattern = pattern[1:]
        star = True
    in_range = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 < len(pattern):
                i += 1
        elif c == "[":
            in_range = True
        elif c == "]":
            in_range = False
        elif c == "*" and not in_range:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _get_esc(chunk: str) -> str:
    """getEsc: one possibly escaped class character; returns the rest of the chunk."""
    if not chunk or chunk[0] in "-]":
        raise _BadPattern(_BAD_CLASS)
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise _BadPattern(_BAD_CLASS)
    rest = chunk[1:]
    if not rest:
        raise _BadPattern(_BAD_CLASS)
    return rest


def _check_chunk(chunk: str) -> None:
    # matchChunk after the match has failed: Go (>= 1.16) still walks the whole chunk for syntax.
    while chunk:
        c = chunk[0]
        if c == "[":
            chunk = chunk[1:]
            if chunk.startswith("^"):
                chunk = chunk[1:]
            ranges = 0
            while not (chunk.startswith("]") and ranges > 0):
                chunk = _get_esc(chunk)
                if chunk[0] == "-":
                    chunk = _get_esc(chunk[1:])
                ranges += 1
            chunk = chunk[1:]
        elif c == "\\":
            if len(chunk) < 2:
                raise _BadPattern(_TRAILING_BACKSLASH)
            chunk = chunk[2:]
        else:
            chunk = chunk[1:]


def _check_glob_syntax(pattern: str) -> None:
    """The error half of filepath.Match(pattern, "."), which patternmatcher.New calls."""
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and not chunk:
            return
        _check_chunk(chunk)


# --- Pattern.compile: the Go regular expression moby builds -----------------------------------

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


# --- Go regexp/syntax -> Python re ------------------------------------------------------------
# Only what moby can emit needs handling, but inside that, Go's meaning wins: "\d" in a pattern
# is a digit class in Docker (moby copies "\d" into the regexp), "^" is an anchor, "[[:alpha:]]"
# is a POSIX class. Character classes are rebuilt as explicit code-point ranges so Python's
# different class syntax ("[[" nesting warnings, no POSIX names) never comes into play.

_MAX_RUNE = 0x10FFFF
_Ranges = list[tuple[int, int]]


def _r(spec: str) -> _Ranges:
    """'09AZ' -> [(ord('0'), ord('9')), (ord('A'), ord('Z'))]."""
    return [(ord(spec[i]), ord(spec[i + 1])) for i in range(0, len(spec), 2)]


def _negate(ranges: _Ranges) -> _Ranges:
    out: _Ranges = []
    nxt = 0
    for lo, hi in _normalize(ranges):
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= _MAX_RUNE:
        out.append((nxt, _MAX_RUNE))
    return out


def _normalize(ranges: _Ranges) -> _Ranges:
    out: _Ranges = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


_PERL_CLASSES: dict[str, _Ranges] = {
    "d": _r("09"),
    "s": _r("\t\n\f\r  "),
    "w": _r("09AZ__az"),
}
_PERL_CLASSES |= {k.upper(): _negate(v) for k, v in list(_PERL_CLASSES.items())}

_POSIX_CLASSES: dict[str, _Ranges] = {
    "alnum": _r("09AZaz"),
    "alpha": _r("AZaz"),
    "ascii": [(0, 0x7F)],
    "blank": _r("\t\t  "),
    "cntrl": [(0, 0x1F), (0x7F, 0x7F)],
    "digit": _r("09"),
    "graph": _r("!~"),
    "lower": _r("az"),
    "print": _r(" ~"),
    "punct": _r("!/:@[`{~"),
    "space": _r("\t\r  "),
    "upper": _r("AZ"),
    "word": _r("09AZ__az"),
    "xdigit": _r("09AFaf"),
}
_POSIX_BY_NAME: dict[str, _Ranges] = {f"[:{k}:]": v for k, v in _POSIX_CLASSES.items()}
_POSIX_BY_NAME |= {f"[:^{k}:]": _negate(v) for k, v in _POSIX_CLASSES.items()}

_C_ESCAPES = {"a": 7, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11}
_OCTAL = "01234567"
_HEX = "0123456789abcdefABCDEF"


class _Unsupported(Exception):
    """Valid for Docker but not reproducible with Python's re (\\p Unicode classes)."""


def _go_escape(s: str, i: int) -> tuple[int, int]:
    """parseEscape: s[i] is the backslash; returns (code point, index after the escape)."""
    if i + 1 >= len(s):
        raise _BadPattern("trailing backslash in Docker's regular expression")
    c = s[i + 1]
    j = i + 2
    if ord(c) < 0x80 and not c.isalnum():
        return ord(c), j  # escaped punctuation is itself (Go also allows "\_")
    if c in "1234567" and not (j < len(s) and s[j] in _OCTAL):
        raise _BadPattern(f"'\\{c}' is a back-reference, which Go's regexp rejects")
    if c in _OCTAL:
        value = int(c)
        for _ in range(2):
            if j < len(s) and s[j] in _OCTAL:
                value = value * 8 + int(s[j])
                j += 1
        return value, j
    if c == "x" and j + 1 < len(s) and s[j] in _HEX and s[j + 1] in _HEX:
        return int(s[j : j + 2], 16), j + 2
    if c in _C_ESCAPES:
        return _C_ESCAPES[c], j
    raise _BadPattern(f"'\\{c}' is an escape Go's regexp rejects")


def _go_class(s: str, i: int) -> tuple[_Ranges, int]:
    """parseClass (Perl flags): s[i] is '['; returns (ranges, index after ']')."""
    i += 1
    negated = i < len(s) and s[i] == "^"
    if negated:
        i += 1
    ranges: _Ranges = []
    first = True
    while first or i >= len(s) or s[i] != "]":
        if i >= len(s):
            raise _BadPattern("missing ']' in Docker's regular expression")
        first = False
        if s.startswith("[:", i) and len(s) - i > 2:
            end = s.find(":]", i + 2)
            if end >= 0:
                name = s[i : end + 2]
                if name not in _POSIX_BY_NAME:
                    raise _BadPattern(f"unknown character class {name}")
                ranges += _POSIX_BY_NAME[name]
                i = end + 2
                continue
        if s.startswith(("\\p", "\\P"), i):
            raise _Unsupported("\\p/\\P Unicode classes")
        if s[i] == "\\" and i + 1 < len(s) and s[i + 1] in _PERL_CLASSES:
            ranges += _PERL_CLASSES[s[i + 1]]
            i += 2
            continue
        lo, i = _go_class_char(s, i)
        hi = lo
        if len(s) - i >= 2 and s[i] == "-" and s[i + 1] != "]":
            hi, i = _go_class_char(s, i + 1)
            if hi < lo:
                raise _BadPattern("character class range is backwards")
        ranges.append((lo, hi))
    return (_negate(ranges) if negated else _normalize(ranges)), i + 1


def _go_class_char(s: str, i: int) -> tuple[int, int]:
    if i >= len(s):
        raise _BadPattern("missing ']' in Docker's regular expression")
    if s[i] == "\\":
        return _go_escape(s, i)
    return ord(s[i]), i + 1


def _py_class(ranges: _Ranges) -> str:
    # Written as a negated class when that is shorter: "[^/]" matches much faster than its
    # two-range complement.
    if not ranges:  # Go allows a class that matches nothing, e.g. "[^\x00-\x{10FFFF}]"
        return f"[^{_py_ranges([(0, _MAX_RUNE)])}]"
    negated = _negate(ranges)
    if negated and len(negated) < len(ranges):
        return f"[^{_py_ranges(negated)}]"
    return f"[{_py_ranges(ranges)}]"


def _py_ranges(ranges: _Ranges) -> str:
    parts = []
    for lo, hi in ranges:
        char = _py_class_char(lo)
        parts.append(char if lo == hi else f"{char}-{_py_class_char(hi)}")
    return "".join(parts)


def _py_class_char(code: int) -> str:
    char = chr(code)
    return char if char.isascii() and (char.isalnum() or char == "/") else f"\\U{code:08x}"


def _go_to_python(go: str) -> str:
    """Translate the Go regexp moby built into an equivalent Python regexp."""
    out: list[str] = []
    i = 0
    n = len(go)
    while i < n:
        c = go[i]
        if c == "\\":
            nxt = go[i + 1] if i + 1 < n else ""
            if nxt == "A":
                out.append("\\A")
            elif nxt == "z":
                out.append("\\Z")
            elif nxt in ("b", "B"):
                out.append(f"(?a:\\{nxt})")  # Go's \b is ASCII-only
            elif nxt == "C":
                raise _BadPattern("'\\C' is an escape Go's regexp rejects")
            elif nxt == "Q":
                # \Q...\E quotes literally, up to \E or the end (the final '$' included).
                end = go.find("\\E", i + 2)
                literal = go[i + 2 :] if end < 0 else go[i + 2 : end]
                out.append(re.escape(literal))
                i = n if end < 0 else end + 2
                continue
            elif nxt in ("p", "P"):
                raise _Unsupported("\\p/\\P Unicode classes")
            elif nxt and nxt in _PERL_CLASSES:
                out.append(_py_class(_PERL_CLASSES[nxt]))
            else:
                code, i = _go_escape(go, i)
                out.append(re.escape(chr(code)))
                continue
            i += 2
            continue
        if c == "[":
            ranges, i = _go_class(go, i)
            out.append(_py_class(ranges))
            continue
        elif c == "^":
            out.append("^")  # without (?m) both mean "start of text"
        elif c == "$":
            out.append("\\Z")  # Go's $ is end of text; Python's $ also matches before a '\n'
        elif c == "(":
            out.append("(?:")
        elif c in ").*?":
            out.append(c)  # only moby's own "(.*/)?", ".*" and "[^/]*" put these here
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


# --- the matcher ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rule:
    exclusion: bool
    test: Callable[[str], bool]
    # The same test as a Python regexp, for the combined pre-check; matched against the whole
    # path, or from just after its last '/' when `on_name` is set.
    alternative: str
    on_name: bool = False


def _compile_rule(text: str, exclusion: bool) -> _Rule:
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

    return _Rule(exclusion, test, alternative)


def _name_rule(name: str, kind: str, exclusion: bool) -> _Rule:
    """'**/NAME' where NAME cannot match a '/': a test on the last path component only.

    Not a change of meaning, only of speed: such patterns are the common case ('**/*.pyc',
    '**/__pycache__'), and matching them against whole paths costs most of the filter's time.
    """
    if kind == _SUFFIX:  # no wildcard: HasSuffix("/NAME") or == "NAME"
        alternative = re.escape(name) + r"\Z"

        def test_literal(path: str) -> bool:
            return path.endswith("/" + name) or path == name

        return _Rule(exclusion, test_literal, alternative, on_name=True)
    # "^(.*/)?NAME$": Go's '.' does not match '\n', so a newline before the last '/' fails it.
    alternative = _compile_go(_moby_regex(name)[1].removeprefix("^"))
    match = re.compile(alternative).match

    def test(path: str) -> bool:
        slash = path.rfind("/")
        return match(path, slash + 1) is not None and "\n" not in path[: max(slash, 0)]

    return _Rule(exclusion, test, alternative, on_name=True)


def _compile_go(go: str) -> str:
    # Go compiles the regexp on first use and fails the build if it is invalid.
    try:
        alternative = _go_to_python(go)
        re.compile(alternative)
    except (_BadPattern, re.error) as error:
        raise _BadPattern(
            f"{error}; Docker cannot compile it and fails the build, so fix or remove it"
        ) from None
    return alternative


def _new_rule(pattern: str) -> _Rule | None:
    """patternmatcher.New for one pattern: None for a blank one."""
    p = _trim_space(pattern)
    if not p:
        return None
    try:
        # New cleans *before* looking at '!': "!/" becomes "!", which is rejected below.
        p = go_clean(p)
        exclusion = p[0] == "!"
        if exclusion:
            if len(p) == 1:
                raise _BadPattern('a lone "!" excludes nothing; put a path after it or remove it')
            p = p[1:]
        _check_glob_syntax(p)
        return _compile_rule(p, exclusion)
    except _BadPattern as error:
        raise BuildorchError(f"bad .dockerignore pattern {pattern!r}: {error}") from None
    except _Unsupported as error:
        raise BuildorchError(
            f".dockerignore pattern {pattern!r} uses {error}, which buildorch cannot reproduce; "
            "rewrite it without them"
        ) from None


# (match result of each pattern, excluded?) for one path: what fsutil carries from a directory
# to its entries as patternmatcher.MatchInfo.
_State = tuple[tuple[bool, ...], bool]


_Matcher = Callable[[str, int], object] | None


def _any_of(rules: Iterable[_Rule]) -> _Matcher:
    alternatives = [f"(?:{rule.alternative})" for rule in rules]
    return re.compile("|".join(alternatives)).match if alternatives else None


@dataclass(frozen=True)
class DockerIgnore:
    """A compiled .dockerignore; `patterns` is what :func:`read_patterns` returns."""

    patterns: tuple[str, ...]
    _rules: tuple[_Rule, ...] = field(init=False, repr=False, compare=False)
    # Whether any pattern matches a path at all (most paths match none, and then every result
    # is the parent directory's, so the per-pattern loop is rarely run): one regexp for whole
    # paths, one for last components.
    _any_path: _Matcher = field(init=False, repr=False, compare=False)
    _any_name: _Matcher = field(init=False, repr=False, compare=False)
    _root: _State = field(init=False, repr=False, compare=False)
    _dirs: dict[str, _State] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        patterns = tuple(self.patterns)
        rules = tuple(rule for rule in map(_new_rule, patterns) if rule is not None)
        object.__setattr__(self, "patterns", patterns)
        object.__setattr__(self, "_rules", rules)
        object.__setattr__(self, "_any_path", _any_of(r for r in rules if not r.on_name))
        object.__setattr__(self, "_any_name", _any_of(r for r in rules if r.on_name))
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
