"""Instruction-level rules of BuildKit's Dockerfile frontend (`frontend/dockerfile/instructions`).

Which flags each instruction accepts and how they parse (`BFlags`), the argument checks that
make BuildKit reject a file before building anything, image reference syntax
(`reference.ParseNormalizedNamed`), which COPY/ADD sources are git refs or URLs rather than
context paths, the CSV of `RUN --mount`, and the layout-free text of an instruction that the
fingerprint is made of.

Upstream: moby/buildkit v0.13 `frontend/dockerfile/instructions/{parse,commands,bflag}.go`
and `commands_runmount.go`.
"""

from __future__ import annotations

import csv
import difflib
import json
import re
from collections.abc import Mapping

from buildorch.dockerlang.parser import KNOWN_INSTRUCTIONS, Node, parse_error, parse_heredoc_marker

# Flags each instruction accepts (instructions/parse.go and its run hooks).
_FLAGS: dict[str, dict[str, str]] = {
    "add": {"chown": "string", "chmod": "string", "link": "bool", "keep-git-dir": "bool",
            "checksum": "string", "unpack": "bool", "exclude": "strings"},
    "copy": {"chown": "string", "from": "string", "chmod": "string", "link": "bool",
             "exclude": "strings", "parents": "bool"},
    "from": {"platform": "string"},
    "run": {"mount": "strings", "network": "string", "security": "string", "device": "strings"},
    "healthcheck": {"interval": "string", "timeout": "string", "start-period": "string",
                    "start-interval": "string", "retries": "string"},
}
_STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*\Z")
MOUNT_TYPES = frozenset({"bind", "cache", "tmpfs", "secret", "ssh"})
MOUNT_KEYS = frozenset({"type", "from", "source", "src", "target", "dst", "destination",
                        "readonly", "ro", "readwrite", "rw", "required", "size", "id",
                        "sharing", "mode", "uid", "gid", "env"})

Flags = dict[str, "str | bool | list[str]"]


def parse_flags(node: Node) -> Flags:
    """`BFlags.Parse`: every flag must be one the instruction accepts."""
    spec = _FLAGS.get(node.command, {})
    if node.command == "healthcheck" and node.args and node.args[0].upper() == "NONE":
        spec = {}
    out: Flags = {}
    for raw in node.flags:
        name, has_value, value = raw[2:].partition("=")
        kind = spec.get(name)
        where = f"{node.keyword.upper()} --{name}"
        if kind is None:
            hint = suggest(name, spec)
            raise parse_error(node.start_line, f"unknown flag: --{name} for "
                              f"{node.keyword.upper()}{hint}")
        if name in out and kind != "strings":
            raise parse_error(node.start_line, f"duplicate flag specified: {where}")
        if kind == "bool":
            if has_value and value.lower() not in ("true", "false"):
                raise parse_error(node.start_line, f"expecting boolean value for {where}, "
                                                   f"not: {value}")
            out[name] = not has_value or value.lower() == "true"
        elif not has_value:
            raise parse_error(node.start_line, f"missing a value on flag {where}")
        elif kind == "strings":
            values = out.setdefault(name, [])
            assert isinstance(values, list)
            values.append(value)
        else:
            out[name] = value
    return out


def suggest(word: str, options: Mapping[str, object] | frozenset[str], upper: bool = False
             ) -> str:
    close = difflib.get_close_matches(word.lower(), sorted(options), n=1)
    if not close:
        return ""
    return f" (did you mean {close[0].upper() if upper else close[0]}?)"


def check(node: Node) -> None:
    """The errors `instructions.ParseInstruction` raises, so a broken file fails here."""
    cmd, line, kw = node.command, node.start_line, node.keyword.upper()
    if cmd not in KNOWN_INSTRUCTIONS:
        raise parse_error(line, f"unknown instruction: {node.keyword}"
                                f"{suggest(cmd, KNOWN_INSTRUCTIONS, upper=True)}")
    parse_flags(node)
    n = len(node.args)
    if cmd == "from":
        if not (n == 1 or (n == 3 and node.args[1].lower() == "as")):
            raise parse_error(line, "FROM requires either one or three arguments",
                              "write FROM <image> [AS <name>]")
        if n == 3 and not _STAGE_NAME.match(node.args[2].lower()):
            raise parse_error(line, f"invalid name for build stage: {node.args[2]!r}, name "
                                    "can't start with a number or contain symbols")
    elif cmd in ("copy", "add"):
        if n < 2:
            raise parse_error(line, f"{kw} requires at least two arguments, but only one was "
                                    "provided. Destination could not be determined")
        if parse_heredoc_marker(node.args[-1]):
            raise parse_error(line, f"{kw} cannot accept a heredoc as a destination")
    elif cmd == "onbuild":
        trigger = node.trigger
        if trigger is None:
            raise parse_error(line, "ONBUILD requires at least one argument")
        if trigger.command in ("onbuild", "from", "maintainer"):
            raise parse_error(line, f"{trigger.keyword.upper()} isn't allowed as an ONBUILD "
                                    "trigger")
    elif cmd in ("workdir", "user", "stopsignal", "maintainer") and n != 1:
        raise parse_error(line, f"{kw} requires exactly one argument")
    elif cmd in ("env", "label", "arg", "expose", "volume", "healthcheck") and n == 0:
        raise parse_error(line, f"{kw} requires at least one argument")
    elif cmd in ("env", "label") and any(not k for k in node.args[::2]):
        raise parse_error(line, f"{kw} names can not be blank")
    elif cmd == "shell" and not node.is_json:
        raise parse_error(line, "SHELL requires the arguments to be in JSON form")
    elif cmd == "healthcheck" and node.args[0].upper() not in ("CMD", "NONE"):
        raise parse_error(line, f"unknown type {node.args[0]!r} in HEALTHCHECK (try CMD)")


def canonical(node: Node) -> str:
    """One instruction without comments, blank or continuation-line layout, for hashing."""
    parts = [node.keyword.upper()]
    if node.flags:
        parts.append(json.dumps(list(node.flags), ensure_ascii=False))
    if node.trigger is not None:
        parts.append(canonical(node.trigger))
    else:
        parts.append(("JSON" if node.is_json else "") + json.dumps(list(node.args),
                                                                   ensure_ascii=False))
    for doc in node.heredocs:
        parts.append(json.dumps([doc.name, doc.chomp, doc.expand, doc.content],
                                ensure_ascii=False))
    return " ".join(parts)


def mount_fields(spec: str, line: int) -> list[tuple[str, str]]:
    """`--mount` is one CSV record of `key=value` fields; bare flags like `ro` are skipped."""
    try:
        fields = next(csv.reader([spec]), [])
    except csv.Error as exc:
        raise parse_error(line, f"failed to parse csv mounts: {exc}") from None
    out = []
    for item in fields:
        key, has_value, value = item.partition("=")
        if has_value:
            out.append((key.lower(), value))
        elif key.lower() not in ("readonly", "ro", "readwrite", "rw", "required"):
            raise parse_error(line, f"invalid field {item!r} must be a key=value pair")
    return out


# --- image references and source kinds ------------------------------------------------------

_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = (r"(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
           r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])"
           r"(?::[0-9]+)?")
_REFERENCE = re.compile(
    rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
    r"(?::[0-9A-Za-z_][0-9A-Za-z_.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?\Z")


def check_reference(ref: str, line: int) -> None:
    """`reference.ParseNormalizedNamed`, which BuildKit applies to every base image name."""
    slash = ref.find("/")
    first = ref[:slash] if slash >= 0 else ""
    if slash < 0 or not ("." in first or ":" in first or first == "localhost"
                         or first.lower() != first):
        domain, remainder = "docker.io", ref
    else:
        domain, remainder = first, ref[slash + 1:]
    remote = remainder.split(":", 1)[0]
    problem = ""
    if re.fullmatch(r"[a-f0-9]{64}", ref):
        problem = "cannot specify 64-byte hexadecimal strings"
    elif remote.lower() != remote:
        problem = f"repository name ({remote}) must be lowercase"
    elif not _REFERENCE.match(f"{domain}/{remainder}"):
        problem = "invalid reference format"
    if problem:
        raise parse_error(line, f"{ref!r} is not a valid image reference: {problem}",
                          "fix the image name (or the ARG it comes from)")


_PROTO = re.compile(r"[a-zA-Z0-9]+://")
_SCP = re.compile(r"(?:[a-zA-Z0-9\-_]+@)?[a-zA-Z0-9\-.]+:(.*?)(?:#.*)?\Z")
_GO_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.\-]*:")


def is_git_ref(src: str) -> bool:
    """`gitutil.ParseGitRef` succeeding on something not also a local path."""
    if src.startswith(("./", "../", "github.com/")):
        return False  # github.com/x/y is read as a local path by COPY/ADD
    proto = _PROTO.match(src)
    if proto:
        scheme = proto.group(0)[:-3].lower()
        if scheme in ("ssh", "git"):
            return True
        if scheme in ("http", "https"):
            return src.split("#", 1)[0].split("?", 1)[0].endswith(".git")
        return False
    if not _SCP.match(src):
        return False
    # url.Parse must find no scheme, or an opaque part: `host:/abs` has a scheme and no
    # opaque part, so it is not an scp-style URL
    found = _GO_SCHEME.match(src)
    opaque = src[found.end():].split("#", 1)[0] if found else ""
    return found is None or (bool(opaque) and not opaque.startswith("/"))


def is_url(src: str) -> bool:
    return src.startswith(("http://", "https://")) and not is_git_ref(src)
