"""BuildKit's Dockerfile parser (`frontend/dockerfile/parser`), ported to Python.

Turns Dockerfile text into one `Node` per instruction, exactly as BuildKit's parser does:
parser directives at the top, comments, line continuations (the escape token, `\\` or a
backtick), empty continuation lines, builder flags (`--x=y`), JSON or shell forms and heredoc
bodies. Meaning is elsewhere: what each instruction accepts in `dockerfile_instructions.py`,
stages and variables in `dockerfile.py`.

Upstream: moby/buildkit v0.13 (the frontend in Docker Engine 26.1, which the tests judge
against) `frontend/dockerfile/parser/{parser,line_parsers,split_command}.go`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any

from buildorch.dockerlang.shell_lex import ShellLex, ShellLexError, is_space
from buildorch.errors import BuildorchError

_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
# `DirectiveParser`: the text after `#`, left-trimmed, is `key=value`; Go's \s is [\t\n\f\r ].
_DIRECTIVE = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*\Z")
_DIRECTIVE_KEYS = frozenset({"syntax", "escape", "check"})
_HEREDOC = re.compile(r"(\d*)<<(-?)[\t\n\f\r ]*([^<]*)\Z")
_HEREDOC_COMMANDS = frozenset({"add", "copy", "run"})


@dataclass(frozen=True)
class Heredoc:
    name: str
    content: str     # the body verbatim, each line with its newline; tabs not yet chomped
    chomp: bool      # `<<-`: leading tabs are stripped from the body when it is used
    expand: bool     # unquoted terminator: COPY/ADD bodies get variables expanded


@dataclass(frozen=True)
class Node:
    keyword: str                 # as written; compare with `.lower()`
    flags: tuple[str, ...]       # leading `--flag[=value]` words, quotes and escapes removed
    args: tuple[str, ...]        # what the instruction's line parser produced
    is_json: bool                # exec (JSON array) form
    heredocs: tuple[Heredoc, ...]
    original: str                # the instruction with its continuation lines joined
    start_line: int              # 1-based
    end_line: int
    trigger: Node | None = None  # ONBUILD's instruction

    @property
    def command(self) -> str:
        return self.keyword.lower()


@dataclass(frozen=True)
class Parsed:
    nodes: tuple[Node, ...]
    directives: tuple[tuple[str, str], ...]
    escape: str


def parse_error(line: int, what: str, todo: str = "fix the Dockerfile") -> BuildorchError:
    return BuildorchError(f"line {line}: {what}; {todo}")


def _trim_left(text: str) -> str:
    i = 0
    while i < len(text) and is_space(text[i]):
        i += 1
    return text[i:]


def _trim(text: str) -> str:
    """Go's strings.TrimSpace (Python's strip() also strips \x1c-\x1f)."""
    text = _trim_left(text)
    end = len(text)
    while end and is_space(text[end - 1]):
        end -= 1
    return text[:end]


def _is_comment(line: str) -> bool:
    return _trim_left(line).startswith("#")


def _continuation_regex(token: str) -> re.Pattern[str]:
    # the escape token ends a line (trailing blanks allowed) unless it is itself escaped
    t = re.escape(token)
    return re.compile(f"([^{t}]){t}[ \t]*\\Z|^{t}[ \t]*\\Z")


class _Directives:
    def __init__(self) -> None:
        self.escape = "\\"
        self.continuation = _continuation_regex(self.escape)
        self.done = False
        self.found: dict[str, str] = {}

    def look(self, line: str, number: int) -> None:
        """Parser directives only count before the first line that is not one."""
        if self.done:
            return
        if not line.startswith("#"):
            self.done = True
            return
        match = _DIRECTIVE.match(_trim_left(line[1:]))
        key = match.group(1).lower() if match else ""
        if match is None or key not in _DIRECTIVE_KEYS:
            self.done = True
            return
        if key in self.found:
            raise parse_error(number, f"only one {key} parser directive can be used")
        value = match.group(2)
        if key == "escape":
            if value not in ("\\", "`"):
                raise parse_error(number, f"invalid escape token {value!r} does not match ` or \\")
            self.escape = value
            self.continuation = _continuation_regex(value)
        self.found[key] = value

    def trim_continuation(self, line: str) -> tuple[str, bool]:
        if self.continuation.search(line):
            return self.continuation.sub(r"\1", line), False
        return line, True


def parse(text: str) -> Parsed:
    """Parse a whole Dockerfile; raises BuildorchError where BuildKit's parser fails."""
    text = text.removeprefix("\ufeff")
    lines = _split_lf(text)
    d = _Directives()
    nodes: list[Node] = []
    i = 0
    while i < len(lines):
        number = i + 1
        first = _trim_left(lines[i].rstrip("\r\n"))
        i += 1
        d.look(first, number)
        line, done = d.trim_continuation("" if _is_comment(first) else first)
        if done and not line:
            continue
        parts = [line]
        while not done and i < len(lines):
            raw = lines[i].rstrip("\r\n")
            i += 1
            # comment and blank lines inside a continuation are dropped, not joined
            if _is_comment(raw) or not _trim_left(raw):
                continue
            line, done = d.trim_continuation(raw)
            parts.append(line)
        joined = "".join(parts)
        node = _node_from_line(joined, d.escape, number)
        if _can_contain_heredoc(node) and "<<" in joined:
            docs = []
            for name, chomp, expand in _heredoc_markers(joined, number):
                body: list[str] = []
                while True:
                    if i >= len(lines):
                        raise parse_error(number, "unterminated heredoc",
                                          f"end it with a line holding only {name}")
                    raw = lines[i]
                    i += 1
                    candidate = raw.rstrip("\r\n")
                    if chomp:
                        candidate = candidate.lstrip("\t")
                    if candidate == name:
                        break
                    body.append(raw)
                docs.append(Heredoc(name, "".join(body), chomp, expand))
            node = _with(node, heredocs=tuple(docs))
        nodes.append(_with(node, end_line=i))
    if not nodes:
        raise BuildorchError("the Dockerfile has no instructions; add a FROM line")
    return Parsed(tuple(nodes), tuple(d.found.items()), d.escape)


def _split_lf(text: str) -> list[str]:
    # BuildKit's scanner splits on \n only; splitlines() would also split on \r, \v, \x1c...
    out = text.split("\n")
    lines = [s + "\n" for s in out[:-1]]
    if out[-1]:
        lines.append(out[-1])
    return lines


def _with(node: Node, **changes: Any) -> Node:
    return dataclasses.replace(node, **changes)


def _can_contain_heredoc(node: Node) -> bool:
    if node.command == "onbuild" and node.trigger is not None:
        node = node.trigger
    return node.command in _HEREDOC_COMMANDS and not node.is_json


def _heredoc_markers(line: str, number: int) -> list[tuple[str, bool, bool]]:
    """`heredocsFromLine`: words shaped `[fd]<<[-]NAME`, lexed with `\\` whatever the escape."""
    lex = ShellLex("\\", raw_quotes=True, raw_escapes=True, skip_unset_env=True)
    try:
        words = lex.process(line, {}).words
    except ShellLexError:
        return []
    out = []
    for word in words:
        marker = parse_heredoc_marker(word, number)
        if marker is not None:
            out.append(marker)
    return out


def parse_heredoc_marker(word: str, number: int | None = None
                         ) -> tuple[str, bool, bool] | None:
    """(name, chomp, expand) of a heredoc word such as `<<-"EOF"`, else None.

    With a line number a bad terminator is an error (`ParseHeredoc`, used by the parser);
    without, it is simply not a heredoc (`MustParseHeredoc`, used for COPY arguments).
    """
    match = _HEREDOC.match(word)
    if match is None or not match.group(3):
        return None
    rest = match.group(3)
    try:
        plain = ShellLex("\\", skip_unset_env=True).process(rest, {}).words
        raw = ShellLex("\\", raw_quotes=True, skip_unset_env=True).process(rest, {}).words
    except ShellLexError as exc:
        if number is None:
            return None
        raise parse_error(number, str(exc)) from None
    if len(plain) != 1 or len(raw) != 1:
        return None

    def quotes(s: str) -> int:
        return s.count("'") + s.count('"')

    # a quoted terminator (any part of it) turns expansion of the body off
    return plain[0], match.group(2) == "-", quotes(plain[0]) == quotes(raw[0])


def _node_from_line(line: str, escape: str, number: int) -> Node:
    stripped = _trim(line)
    cmd_and_rest = _WHITESPACE.split(stripped, maxsplit=1)
    keyword = cmd_and_rest[0]
    rest: str = ""
    flags: tuple[str, ...] = ()
    if len(cmd_and_rest) == 2:
        rest, flag_list = extract_flags(cmd_and_rest[1], escape)
        rest, flags = _trim(rest), tuple(flag_list)
    command = keyword.lower()
    trigger = None
    args: tuple[str, ...] = ()
    is_json = False
    if command == "onbuild":
        if rest:
            trigger = _node_from_line(rest, escape, number)
    else:
        args, is_json = _LINE_PARSERS.get(command, _parse_ignore)(rest, escape, number)
    return Node(keyword, flags, args, is_json, (), line, number, number, trigger)


def extract_flags(line: str, escape: str) -> tuple[str, list[str]]:
    """`extractBuilderFlags`: leading `--` words, quote-aware; a bare `--` ends them."""
    flags: list[str] = []
    word: list[str] = []
    phase = "spaces"
    quote = ""
    blank_ok = False
    pos = 0
    n = len(line)
    while pos <= n:
        ch = line[pos] if pos < n else ""
        if phase == "spaces":
            if pos == n:
                break
            if is_space(ch):
                pos += 1
                continue
            if ch != "-" or pos + 1 == n or line[pos + 1] != "-":
                return line[pos:], flags
            phase = "word"
        if pos == n:
            text = "".join(word)
            if text != "--" and (blank_ok or word):
                flags.append(text)
            break
        if phase == "word":
            if is_space(ch):
                phase = "spaces"
                text = "".join(word)
                if text == "--":
                    return line[pos:], flags
                if blank_ok or word:
                    flags.append(text)
                word, blank_ok = [], False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote, blank_ok, phase = ch, True, "quote"
                pos += 1
                continue
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            word.append(ch)
            pos += 1
            continue
        # inside quotes
        if ch == quote:
            phase = "word"
            pos += 1
            continue
        if ch == escape:
            if pos + 1 == n:
                phase = "word"
                pos += 1
                continue
            pos += 1
            ch = line[pos]
        word.append(ch)
        pos += 1
    return "", flags


def parse_words(rest: str, escape: str) -> list[str]:
    """`parseWords`: split on unquoted whitespace keeping quotes and escapes for the lexer."""
    words: list[str] = []
    word: list[str] = []
    phase = "spaces"
    quote = ""
    blank_ok = False
    pos = 0
    n = len(rest)
    while pos <= n:
        ch = rest[pos] if pos < n else ""
        if phase == "spaces":
            if pos == n:
                break
            if is_space(ch):
                pos += 1
                continue
            phase = "word"
        if pos == n:
            if blank_ok or word:
                words.append("".join(word))
            break
        if phase == "word":
            if is_space(ch):
                phase = "spaces"
                if blank_ok or word:
                    words.append("".join(word))
                word, blank_ok = [], False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote, blank_ok, phase = ch, True, "quote"
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue
                word.append(ch)
                pos += 1
                ch = rest[pos]
            word.append(ch)
            pos += 1
            continue
        if ch == quote:
            phase = "word"
        if ch == escape and quote != "'":
            if pos + 1 == n:
                phase = "word"
                pos += 1
                continue
            word.append(ch)
            pos += 1
            ch = rest[pos]
        word.append(ch)
        pos += 1
    return words


_Args = tuple[tuple[str, ...], bool]


class _NotJSON(Exception):
    pass


def _reject_constant(name: str) -> object:
    raise _NotJSON(name)  # Go's JSON has no NaN/Infinity


def _parse_json(rest: str, number: int) -> tuple[str, ...]:
    rest = _trim_left(rest)
    if not rest.startswith("["):
        raise _NotJSON
    try:
        value = json.loads(rest, parse_constant=_reject_constant)
    except ValueError:
        raise _NotJSON from None
    if not isinstance(value, list):
        raise _NotJSON
    if not all(isinstance(v, str) for v in value):
        raise parse_error(number, "when using JSON array syntax, arrays must be comprised of "
                                  "strings only")
    return tuple(value)


def _parse_ignore(rest: str, escape: str, number: int) -> _Args:
    return (), False


def _parse_string(rest: str, escape: str, number: int) -> _Args:
    return ((rest,) if rest else ()), False


def _parse_whitespace(rest: str, escape: str, number: int) -> _Args:
    return (tuple(_WHITESPACE.split(rest)) if rest else ()), False


def _parse_maybe_json(rest: str, escape: str, number: int) -> _Args:
    if not rest:
        return (), False
    try:
        return _parse_json(rest, number), True
    except _NotJSON:
        return (rest,), False


def _parse_maybe_json_to_list(rest: str, escape: str, number: int) -> _Args:
    try:
        return _parse_json(rest, number), True
    except _NotJSON:
        return _parse_whitespace(rest, escape, number)


def _parse_words(rest: str, escape: str, number: int) -> _Args:
    return tuple(parse_words(rest, escape)), False


def _parse_name_val(rest: str, escape: str, number: int) -> _Args:
    """ENV/LABEL: `k=v ...` pairs, or the legacy `KEY rest of the line`; args are k, v, k, v."""
    words = parse_words(rest, escape)
    if not words:
        return (), False
    if "=" not in words[0]:
        parts = _WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise parse_error(number, f"{parts[0]} needs a value (ENV/LABEL must have two "
                                      "arguments)")
        return (parts[0], parts[1]), False
    out: list[str] = []
    for word in words:
        if "=" not in word:
            raise parse_error(number, f"syntax error - can't find = in {word!r}. Must be of "
                                      "the form: name=value")
        out.extend(word.split("=", 1))
    return tuple(out), False


def _parse_health(rest: str, escape: str, number: int) -> _Args:
    sep = 0
    while sep < len(rest) and not is_space(rest[sep]):
        sep += 1
    if sep == 0:
        return (), False
    args, is_json = _parse_maybe_json(_trim_left(rest[sep:]), escape, number)
    return (rest[:sep], *args), is_json


_LINE_PARSERS = {
    "add": _parse_maybe_json_to_list,
    "arg": _parse_words,
    "cmd": _parse_maybe_json,
    "copy": _parse_maybe_json_to_list,
    "entrypoint": _parse_maybe_json,
    "env": _parse_name_val,
    "expose": _parse_whitespace,
    "from": _parse_whitespace,
    "healthcheck": _parse_health,
    "label": _parse_name_val,
    "maintainer": _parse_string,
    "run": _parse_maybe_json,
    "shell": _parse_maybe_json,
    "stopsignal": _parse_string,
    "user": _parse_string,
    "volume": _parse_maybe_json_to_list,
    "workdir": _parse_string,
}
KNOWN_INSTRUCTIONS = frozenset(_LINE_PARSERS) | {"onbuild"}
