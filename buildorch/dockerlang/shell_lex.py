"""BuildKit's shell word lexer (`frontend/dockerfile/shell/lex.go`), ported to Python.

BuildKit expands variables in most instruction arguments with this lexer, not with a real
shell: quotes and the escape token are removed, `$X`, `${X}` and the modifiers `-`, `+`, `?`
(each with or without `:`), `#`, `##`, `%`, `%%`, `/` and `//` are applied. Every name it
looks up is recorded as matched or unmatched, so the caller can tell which values a result
depends on; that is how the Dockerfile analysis knows a COPY source depends on, say, `$HOME`
set by a base image it cannot see.

Upstream: moby/buildkit v0.13 `frontend/dockerfile/shell/lex.go` (ShellLex.ProcessWord(s)).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

# Go's unicode.IsSpace for Latin-1; above that Python's isspace() agrees with Go.
_LATIN1_SPACES = frozenset("\t\n\v\f\r \x85\xa0")
_SPECIAL_PARAMS = frozenset("@*#?-$!0")
_HEREDOC_SPACES = frozenset(" \t\r")


def is_space(ch: str) -> bool:
    """Go's `unicode.IsSpace`."""
    return ch in _LATIN1_SPACES if ord(ch) < 0x100 else ch.isspace()


class ShellLexError(ValueError):
    """BuildKit would fail the build on this word (bad substitution, unmatched quote...)."""


@dataclass
class LexResult:
    result: str                 # the whole word, quotes removed, variables expanded
    words: list[str]            # the result split on unquoted whitespace
    matched: set[str] = field(default_factory=set)     # names found in the environment
    unmatched: set[str] = field(default_factory=set)   # names looked up but not set


@dataclass(frozen=True)
class ShellLex:
    """One lexer configuration; `process` is reentrant (all state lives in `_Word`)."""

    escape_token: str = "\\"
    raw_quotes: bool = False         # keep quote characters in the result
    raw_escapes: bool = False        # keep escape tokens in the result
    skip_process_quotes: bool = False  # quotes are ordinary characters
    skip_unset_env: bool = False     # leave references to unset names as written

    def process(self, word: str, env: Mapping[str, str]) -> LexResult:
        if word and word.isascii() and not any(
                c in word for c in ("$", "'", '"', self.escape_token, *_LATIN1_SPACES)):
            # One plain word with nothing to expand, unquote, unescape or split: the lexer
            # would return it as is (the common case; the loop below costs ~0.1 ms a word).
            return LexResult(word, [word], set(), set())
        state = _Word(self, word, env)
        try:
            result, words = state.stop_on(None, self.raw_escapes)
        except ShellLexError as exc:
            raise ShellLexError(f"failed to process {word!r}: {exc}") from None
        return LexResult(result, words, state.matched, state.unmatched)


class _Words:
    """Splits the lexer's output into words the way `wordsStruct` does."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.buf: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if is_space(ch):
            if self.in_word and self.buf:
                self.words.append("".join(self.buf))
                self.buf = []
                self.in_word = False
        else:
            self.add_raw(ch)

    def add_raw(self, text: str) -> None:
        self.buf.append(text)
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def finish(self) -> list[str]:
        if self.buf:
            self.words.append("".join(self.buf))
            self.buf = []
            self.in_word = False
        return self.words


class _Word:
    def __init__(self, lex: ShellLex, text: str, env: Mapping[str, str]) -> None:
        self.lex = lex
        self.text = text
        self.pos = 0
        self.env = env
        self.raw_escapes = lex.raw_escapes
        self.matched: set[str] = set()
        self.unmatched: set[str] = set()

    def peek(self) -> str | None:
        return self.text[self.pos] if self.pos < len(self.text) else None

    def next(self) -> str | None:
        ch = self.peek()
        if ch is not None:
            self.pos += 1
        return ch

    def get_env(self, name: str) -> str | None:
        value = self.env.get(name)
        (self.matched if value is not None else self.unmatched).add(name)
        return value

    def handler(self, ch: str) -> Callable[[], str] | None:
        if ch == "$":
            return self.dollar
        if ch == "<":
            return self.possible_heredoc
        if not self.lex.skip_process_quotes:
            if ch == "'":
                return self.single_quote
            if ch == '"':
                return self.double_quote
        return None

    def stop_on(self, stop: str | None, raw_escapes: bool) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            while (ch := self.peek()) is not None:
                if stop is not None and ch == stop:
                    self.next()
                    return "".join(result), words.finish()
                fn = self.handler(ch)
                if fn is not None:
                    tmp = fn()
                    result.append(tmp)
                    # an expanded value is split on its spaces; a quoted string is not
                    if ch == "$":
                        words.add_string(tmp)
                    else:
                        words.add_raw(tmp)
                    continue
                self.next()
                if ch == self.lex.escape_token:
                    if self.raw_escapes:
                        words.add_raw(ch)
                        result.append(ch)
                    escaped = self.next()
                    if escaped is None:  # a trailing escape token is dropped
                        break
                    words.add_raw(escaped)
                    result.append(escaped)
                else:
                    words.add_char(ch)
                    result.append(ch)
        finally:
            self.raw_escapes = saved
        if stop is not None:
            raise ShellLexError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.finish()

    def single_quote(self) -> str:
        # nothing can be escaped inside single quotes
        opening = self.next() or ""
        out = [opening] if self.lex.raw_quotes else []
        while True:
            ch = self.next()
            if ch is None:
                raise ShellLexError(
                    "unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        # only `"`, `$` and the escape token itself can be escaped inside double quotes
        opening = self.next() or ""
        out = [opening] if self.lex.raw_quotes else []
        while True:
            ch = self.peek()
            if ch is None:
                raise ShellLexError(
                    "unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.next()
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            self.next()
            if ch == self.lex.escape_token:
                if self.raw_escapes:
                    out.append(ch)
                after = self.peek()
                if after is None:
                    continue
                if after in ('"', "$", self.lex.escape_token):
                    ch = self.next() or ""
            out.append(ch)

    def possible_heredoc(self) -> str:
        # `<<  EOF` stays one word so the parser can recognise the heredoc marker
        self.next()
        if self.peek() != "<":
            return "<"
        self.next()
        space = []
        while (ch := self.peek()) is not None and ch in _HEREDOC_SPACES:
            space.append(ch)
            self.next()
        return "<<" + "".join(space)

    def name(self) -> str:
        first = self.peek()
        if first is None:
            return ""
        if first.isdecimal():  # `$12`: all the digits form the name
            digits = []
            while (ch := self.peek()) is not None and ch.isdecimal():
                digits.append(ch)
                self.next()
            return "".join(digits)
        if first in _SPECIAL_PARAMS:
            self.next()
            return first
        out = []
        while (ch := self.peek()) is not None and (ch.isalpha() or ch.isdecimal() or ch == "_"):
            out.append(ch)
            self.next()
        return "".join(out)

    def braced_word(self, raw_escapes: bool, stop: str = "}") -> str:
        try:
            return self.stop_on(stop, raw_escapes)[0]
        except ShellLexError:
            if self.peek() is None:
                raise ShellLexError("syntax error: missing '}'") from None
            raise

    def dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value = self.get_env(name)
            if value is None:
                return "$" + name if self.lex.skip_unset_env else ""
            return value
        self.next()
        first = self.peek()
        if first is None:
            raise ShellLexError("syntax error: missing '}'")
        if first in "{}:":
            raise ShellLexError("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        if ch is None:
            raise ShellLexError("syntax error: missing '}'")
        if ch == "}":
            value = self.get_env(name)
            if value is None:
                return "${" + name + "}" if self.lex.skip_unset_env else ""
            return value
        if ch == "/":
            return self.replace(name)
        modifier = ch
        null_is_unset = ch == ":"
        if null_is_unset:
            ch = self.next() or ""
            modifier += ch
        if ch not in ("+", "-", "?", "#", "%") or (null_is_unset and ch in "#%"):
            raise ShellLexError(f"unsupported modifier ({modifier}) in substitution")
        word = self.braced_word(raw_escapes=ch in "#%")
        value = self.get_env(name)
        if value is None and self.lex.skip_unset_env:
            return "${" + name + modifier + word + "}"
        unset = value is None or (null_is_unset and value == "")
        if ch == "-":
            return word if unset else (value or "")
        if ch == "+":
            return "" if unset else word
        if ch == "?":
            if value is None:
                raise ShellLexError(f"{name}: {word or 'is not allowed to be unset'}")
            if unset:
                raise ShellLexError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        greedy = word.startswith(ch)  # `##` / `%%` remove the longest match
        pattern = word[1:] if greedy else word
        if ch == "%":
            return _trim_suffix(pattern, value or "", greedy)
        return _trim_prefix(pattern, value or "", greedy)

    def replace(self, name: str) -> str:
        op = "/"
        if self.peek() == "/":
            self.next()
            op = "//"
        try:
            pattern = self.stop_on("/", True)[0]
        except ShellLexError:
            if self.peek() is None:
                raise ShellLexError("syntax error: missing '/' in ${}") from None
            raise
        replacement = self.braced_word(True)
        value = self.get_env(name)
        if value is None and self.lex.skip_unset_env:
            return "${" + name + op + pattern + "/" + replacement + "}"
        regex = _shell_pattern(pattern, greedy=True, anchored=False)
        return regex.sub(lambda _: replacement, value or "", count=0 if op == "//" else 1)


def _shell_pattern(pattern: str, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """`convertShellPatternToRegex`: `?` and `*` (shortest unless greedy), `\\` escapes."""
    out = ["^"] if anchored else []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(".*" if greedy else ".*?")
            continue
        if ch == "?":
            out.append(".")
            continue
        if ch == "\\":
            nxt = pattern[i] if i < len(pattern) else ""
            if nxt in ("}", "/"):  # escaped only to be part of the ${} word
                continue
            i += 1
            if nxt not in ("*", "?", "\\"):
                raise ShellLexError(
                    f"invalid pattern ({pattern}) in substitution: invalid escape '\\{nxt}'")
            ch = nxt
        out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    return _shell_pattern(pattern, greedy, anchored=True).sub("", value, count=1)


def _reverse_pattern(pattern: str) -> str:
    """Reverse a pattern keeping each `\\x` escape pair in order."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            out.append(pattern[i:i + 2])
            i += 2
        else:
            out.append(pattern[i])
            i += 1
    return "".join(reversed(out))


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # a regex finds the leftmost match, so search the reversed value for the reversed pattern
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]
