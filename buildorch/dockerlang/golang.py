"""Go's semantics that Docker's code leans on, ported: `path.Clean`, `strings.TrimSpace`,
`path/filepath.Match` (its syntax check and its one-segment matching), and translation of a Go
`regexp/syntax` expression into Python's `re`.

Upstream (Go 1.22 standard library, BSD): `src/path/path.go` (Clean), `src/strings/strings.go`
(TrimSpace), `src/path/filepath/match.go` (Match, scanChunk, matchChunk, getEsc),
`src/regexp/syntax/parse.go` (parseClass, parseEscape, perl and POSIX classes).
"""

from __future__ import annotations

import re

__all__ = ["BadPattern", "Unsupported", "check_match_pattern", "clean", "has_wildcards",
           "match_regex", "regexp_to_python", "trim_space"]

# --- path.Clean, strings.TrimSpace ------------------------------------------------------------


def clean(path: str) -> str:
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



# unicode.IsSpace, which strings.TrimSpace uses; str.strip() would also strip \x1c-\x1f.
_GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000"
)



def trim_space(s: str) -> str:
    return s.strip(_GO_SPACE)


# --- filepath.Match ---------------------------------------------------------------------------


class BadPattern(Exception):
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
        raise BadPattern(_BAD_CLASS)
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise BadPattern(_BAD_CLASS)
    rest = chunk[1:]
    if not rest:
        raise BadPattern(_BAD_CLASS)
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
                raise BadPattern(_TRAILING_BACKSLASH)
            chunk = chunk[2:]
        else:
            chunk = chunk[1:]


def check_match_pattern(pattern: str) -> None:
    """The error half of filepath.Match(pattern, "."), which patternmatcher.New calls."""
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and not chunk:
            return
        _check_chunk(chunk)



_WILDCARD = frozenset("*?[")


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


def match_regex(segment: str) -> str | None:
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
            klass, i = _match_class(segment, i)
            if klass is None:
                return None
            out.append(klass)
        else:
            out.append(re.escape(ch))
    return "".join(out)


def _match_class(segment: str, i: int) -> tuple[str | None, int]:
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
        lo, i = _match_class_char(segment, i)
        if lo is None:
            return None, i
        if i < n and segment[i] == "-":
            hi, i = _match_class_char(segment, i + 1)
            if hi is None:
                return None, i
            if lo <= hi:  # Go accepts a reversed range; it matches nothing
                ranges.append(f"{re.escape(lo)}-{re.escape(hi)}")
            else:
                ranges.append("")
        else:
            ranges.append(re.escape(lo))


def _match_class_char(segment: str, i: int) -> tuple[str | None, int]:
    if i >= len(segment) or segment[i] in "-]":
        return None, i
    if segment[i] == "\\":
        i += 1
        if i >= len(segment):
            return None, i
    return segment[i], i + 1



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


class Unsupported(Exception):
    """Valid for Docker but not reproducible with Python's re (\\p Unicode classes)."""


def _go_escape(s: str, i: int) -> tuple[int, int]:
    """parseEscape: s[i] is the backslash; returns (code point, index after the escape)."""
    if i + 1 >= len(s):
        raise BadPattern("trailing backslash in Docker's regular expression")
    c = s[i + 1]
    j = i + 2
    if ord(c) < 0x80 and not c.isalnum():
        return ord(c), j  # escaped punctuation is itself (Go also allows "\_")
    if c in "1234567" and not (j < len(s) and s[j] in _OCTAL):
        raise BadPattern(f"'\\{c}' is a back-reference, which Go's regexp rejects")
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
    raise BadPattern(f"'\\{c}' is an escape Go's regexp rejects")


def _regexp_class(s: str, i: int) -> tuple[_Ranges, int]:
    """parseClass (Perl flags): s[i] is '['; returns (ranges, index after ']')."""
    i += 1
    negated = i < len(s) and s[i] == "^"
    if negated:
        i += 1
    ranges: _Ranges = []
    first = True
    while first or i >= len(s) or s[i] != "]":
        if i >= len(s):
            raise BadPattern("missing ']' in Docker's regular expression")
        first = False
        if s.startswith("[:", i) and len(s) - i > 2:
            end = s.find(":]", i + 2)
            if end >= 0:
                name = s[i : end + 2]
                if name not in _POSIX_BY_NAME:
                    raise BadPattern(f"unknown character class {name}")
                ranges += _POSIX_BY_NAME[name]
                i = end + 2
                continue
        if s.startswith(("\\p", "\\P"), i):
            raise Unsupported("\\p/\\P Unicode classes")
        if s[i] == "\\" and i + 1 < len(s) and s[i + 1] in _PERL_CLASSES:
            ranges += _PERL_CLASSES[s[i + 1]]
            i += 2
            continue
        lo, i = _regexp_class_char(s, i)
        hi = lo
        if len(s) - i >= 2 and s[i] == "-" and s[i + 1] != "]":
            hi, i = _regexp_class_char(s, i + 1)
            if hi < lo:
                raise BadPattern("character class range is backwards")
        ranges.append((lo, hi))
    return (_negate(ranges) if negated else _normalize(ranges)), i + 1


def _regexp_class_char(s: str, i: int) -> tuple[int, int]:
    if i >= len(s):
        raise BadPattern("missing ']' in Docker's regular expression")
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


def regexp_to_python(go: str) -> str:
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
                raise BadPattern("'\\C' is an escape Go's regexp rejects")
            elif nxt == "Q":
                # \Q...\E quotes literally, up to \E or the end (the final '$' included).
                end = go.find("\\E", i + 2)
                literal = go[i + 2 :] if end < 0 else go[i + 2 : end]
                out.append(re.escape(literal))
                i = n if end < 0 else end + 2
                continue
            elif nxt in ("p", "P"):
                raise Unsupported("\\p/\\P Unicode classes")
            elif nxt and nxt in _PERL_CLASSES:
                out.append(_py_class(_PERL_CLASSES[nxt]))
            else:
                code, i = _go_escape(go, i)
                out.append(re.escape(chr(code)))
                continue
            i += 2
            continue
        if c == "[":
            ranges, i = _regexp_class(go, i)
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


