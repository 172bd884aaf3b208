"""A services.toml from a compose file's `build:` sections (`buildorch init --from-compose`).

Compose files are YAML, and neither PyYAML nor the compose plugin is a dependency, so this
reads the subset compose files are written in: block mappings and sequences, plain and quoted
scalars, `|`/`>` block scalars, comments, `[a, b]` lists and `{}`. Anything else (anchors,
aliases, merge keys, tags, flow mappings, several documents) is refused with its line, rather
than read wrongly.

Parents come from the Dockerfiles' FROM lines: a FROM naming another compose service's image
makes that service a parent. Tiers follow depth: `foundation` for roots with children,
`tier-N` for bases N levels down, `services` for leaves. Nothing here does I/O: Dockerfiles
are read through a callback.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NoReturn

from buildorch.config import NAME_RE
from buildorch.dockerlang.reference import repository_of
from buildorch.errors import BuildorchError

YamlValue = object   # str | None | list | dict, built by the reader below


# --- the YAML subset ---------------------------------------------------------------------------

@dataclass
class _Line:
    number: int
    indent: int
    text: str        # comment and trailing blanks removed


class YamlSubsetError(BuildorchError):
    pass


def _strip_comment(raw: str) -> str:
    """Drop a `#` comment, minding quotes that open a scalar."""
    quote = ""
    prev = " "
    i = 0
    while i < len(raw):
        ch = raw[i]
        if quote:
            if ch == quote:
                if quote == "'" and raw[i + 1:i + 2] == "'":
                    i += 2
                    continue
                quote = ""
            elif ch == "\\" and quote == '"':
                i += 1
        elif ch in "'\"" and (prev in " \t:-[,{" or i == 0):
            quote = ch
        elif ch == "#" and prev in " \t":
            return raw[:i].rstrip()
        prev = ch
        i += 1
    return raw.rstrip()


class _Reader:
    def __init__(self, text: str, name: str) -> None:
        self.name = name
        self.lines: list[_Line] = []
        raw_lines = text.removeprefix("\ufeff").split("\n")
        self.raw = raw_lines
        seen_doc = False
        for number, raw in enumerate(raw_lines, 1):
            raw = raw.rstrip("\r")
            body = raw.lstrip(" ")
            if body.strip() and body.startswith("\t"):
                self.fail(number, "a tab in the indentation", "indent with spaces")
            text_ = _strip_comment(body)
            if not text_:
                continue
            if raw.startswith("%"):
                self.fail(number, "a YAML directive (%)", "remove it")
            if raw.startswith("---"):
                if seen_doc or self.lines:
                    self.fail(number, "several YAML documents (---)",
                              "keep one document per compose file")
                seen_doc = True
                if raw[3:].strip():
                    self.fail(number, "content after ---", "start the document on a new line")
                continue
            if raw.startswith("..."):
                self.fail(number, "a document end marker (...)", "remove it")
            self.lines.append(_Line(number, len(raw) - len(body), text_))
        self.i = 0

    def fail(self, number: int, what: str, todo: str = "rewrite it in plain block style"
             ) -> NoReturn:
        raise YamlSubsetError(f"{self.name}:{number}: unsupported YAML: {what}; {todo} "
                              "(buildorch reads a subset of YAML)")

    def document(self) -> YamlValue:
        if not self.lines:
            return None
        first = self.lines[0]
        value = self.block(first.indent)
        if self.i < len(self.lines):
            line = self.lines[self.i]
            self.fail(line.number, "indentation that does not match any open block",
                      "fix the indentation")
        return value

    def block(self, indent: int) -> YamlValue:
        line = self.lines[self.i]
        if line.text == "-" or line.text.startswith("- "):
            return self.sequence(indent)
        return self.mapping(indent)

    def _nested(self, parent: _Line, allow_same_indent_seq: bool) -> YamlValue:
        """The block under a `key:` or `-` with nothing after it (None when there is none)."""
        if self.i >= len(self.lines):
            return None
        nxt = self.lines[self.i]
        if nxt.indent > parent.indent:
            return self.block(nxt.indent)
        if (allow_same_indent_seq and nxt.indent == parent.indent
                and (nxt.text == "-" or nxt.text.startswith("- "))):
            return self.sequence(nxt.indent)
        return None

    def mapping(self, indent: int) -> dict[str, YamlValue]:
        out: dict[str, YamlValue] = {}
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line.indent < indent:
                break
            if line.indent > indent:
                self.fail(line.number, "indentation that does not match any open block",
                          "fix the indentation")
            if line.text == "-" or line.text.startswith("- "):
                break
            key, rest = self.split_key(line)
            self.i += 1
            if key in out:
                self.fail(line.number, f"a duplicate key {key!r}", "keep one of them")
            if rest == "":
                out[key] = self._nested(line, allow_same_indent_seq=True)
            elif rest[0] in "|>":
                out[key] = self.block_scalar(line, rest)
            else:
                out[key] = self.scalar(rest, line.number)
        return out

    def sequence(self, indent: int) -> list[YamlValue]:
        out: list[YamlValue] = []
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line.indent != indent or not (line.text == "-" or line.text.startswith("- ")):
                if line.indent > indent:
                    self.fail(line.number, "indentation that does not match any open block",
                              "fix the indentation")
                break
            item = line.text[1:].lstrip(" ")
            if not item:
                self.i += 1
                out.append(self._nested(line, allow_same_indent_seq=False))
            elif item.startswith(("- ", "? ")) or item == "-" or self._is_pair(item):
                # `- key: value` opens a mapping (or `- - x` a sequence) at the item's column
                self.lines[self.i] = _Line(line.number, indent + len(line.text) - len(item),
                                           item)
                out.append(self.block(self.lines[self.i].indent))
            elif item[0] in "|>":
                self.i += 1
                out.append(self.block_scalar(line, item))
            else:
                self.i += 1
                out.append(self.scalar(item, line.number))
        return out

    def _is_pair(self, text: str) -> bool:
        if text[0] in "'\"":
            end = self._quoted_end(text)
            return end is not None and text[end:].lstrip(" ").startswith(":")
        if text[0] in "[{":
            return False
        return re.search(r":(?: |$)", text) is not None

    @staticmethod
    def _quoted_end(text: str) -> int | None:
        q = text[0]
        i = 1
        while i < len(text):
            if text[i] == "\\" and q == '"':
                i += 2
                continue
            if text[i] == q:
                if q == "'" and text[i + 1:i + 2] == "'":
                    i += 2
                    continue
                return i + 1
            i += 1
        return None

    def split_key(self, line: _Line) -> tuple[str, str]:
        text = line.text
        if text.startswith("? "):
            self.fail(line.number, "a complex key (?)", "use a plain key")
        if text[0] in "'\"":
            end = self._quoted_end(text)
            if end is None or not text[end:].lstrip(" ").startswith(":"):
                self.fail(line.number, "a line that is not `key: value`", "fix the line")
            key = str(self.scalar(text[:end], line.number))
            rest = text[end:].lstrip(" ")[1:]
        else:
            m = re.search(r":(?: |$)", text)
            if m is None:
                self.fail(line.number, "a line that is not `key: value` (a multi-line plain "
                          "scalar?)", "quote the value on one line")
            assert m is not None
            key = text[:m.start()].rstrip(" ")
            rest = text[m.end():]
            if key == "<<":
                self.fail(line.number, "a merge key (<<)", "write the keys out")
            if key[:1] in "&*!{[":
                self.fail(line.number, f"the key {key!r} (anchor, alias, tag or flow key)",
                          "use a plain key")
        return key, rest.strip(" ")

    def block_scalar(self, line: _Line, head: str) -> str:
        if not re.fullmatch(r"[|>][+-]?", head):
            self.fail(line.number, f"the block scalar header {head!r}", "use | or >")
        body: list[str] = []
        start = self.i
        # raw lines: a block scalar keeps blank lines and `#` text
        first = line.number  # 1-based; raw index of the next line is `first`
        n = first
        min_indent: int | None = None
        while n < len(self.raw):
            raw = self.raw[n].rstrip("\r")
            if raw.strip() == "":
                body.append("")
                n += 1
                continue
            ind = len(raw) - len(raw.lstrip(" "))
            if ind <= line.indent:
                break
            if min_indent is None:
                min_indent = ind
            if ind < min_indent:
                break
            body.append(raw[min_indent:])
            n += 1
        while body and body[-1] == "":
            body.pop()
        # skip the reader's lines that fell inside the scalar
        self.i = start
        while self.i < len(self.lines) and self.lines[self.i].number <= n:
            self.i += 1
        text = "\n".join(body) if head[0] == "|" else " ".join(s for s in body if s)
        return text if head.endswith("-") else text + "\n"

    def scalar(self, text: str, number: int) -> YamlValue:
        c = text[0]
        if c in "&*!":
            what = {"&": "an anchor (&)", "*": "an alias (*)", "!": "a tag (!)"}[c]
            self.fail(number, what, "write the value out in full")
        if c == "{":
            if text.replace(" ", "") == "{}":
                return {}
            self.fail(number, "a flow mapping ({...})", "write it as an indented block")
        if c == "[":
            if not text.endswith("]"):
                self.fail(number, "a flow sequence over several lines or with trailing text",
                          "write it as [a, b] on one line or as a block list")
            inner = text[1:-1].strip()
            if not inner:
                return []
            if any(ch in inner for ch in "[]{}"):
                self.fail(number, "a nested flow collection", "write it as a block list")
            return [self.scalar(p.strip(), number) for p in _split_commas(inner)]
        if c in "'\"":
            end = self._quoted_end(text)
            if end is None or end != len(text):
                self.fail(number, "a quoted string over several lines or with trailing text",
                          "keep the quoted string on one line")
            body = text[1:-1]
            if c == "'":
                return body.replace("''", "'")
            try:
                value = json.loads(text)
            except ValueError:
                self.fail(number, "an escape in a double-quoted string JSON does not share",
                          "use single quotes")
            assert isinstance(value, str)
            return value
        if text in ("~", "null", "Null", "NULL"):
            return None
        return text


def _split_commas(text: str) -> list[str]:
    out: list[str] = []
    word: list[str] = []
    quote = ""
    for ch in text:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == ",":
            out.append("".join(word))
            word = []
            continue
        word.append(ch)
    out.append("".join(word))
    return out


def read_yaml(text: str, name: str = "docker-compose.yml") -> YamlValue:
    """The compose subset of YAML as dicts, lists, strings and None (scalars stay strings)."""
    return _Reader(text, name).document()


# --- compose -> services.toml -------------------------------------------------------------------

@dataclass(frozen=True)
class Imported:
    name: str
    service: str                   # the compose service it came from
    repository: str                # registry/name, as FROM lines would name it
    context: str                   # posix, relative to the services.toml folder
    dockerfile: str                # posix, relative to the services.toml folder
    args: tuple[tuple[str, str], ...]
    target: str | None
    parents: tuple[str, ...] = ()
    tier: str = "services"


@dataclass(frozen=True)
class Result:
    text: str
    images: tuple[Imported, ...]
    registry: str | None
    tag: str
    notes: tuple[str, ...] = field(default=())


def _split_image(ref: str) -> tuple[str | None, str, str | None]:
    """`ghcr.io/acme/base:1.0` -> ("ghcr.io/acme", "base", "1.0")."""
    ref = ref.split("@", 1)[0]
    slash, colon = ref.rfind("/"), ref.rfind(":")
    tag = None
    if colon > slash:
        ref, tag = ref[:colon], ref[colon + 1:]
    registry, _, name = ref.rpartition("/")
    return registry or None, name, tag


def _norm_name(service: str) -> str:
    name = re.sub(r"[^a-z0-9._-]+", "-", service.lower()).strip("._-")
    return name or "image"


def _rel(base: str, path: str) -> str:
    """`path` (posix, relative to the compose folder) as seen from `base` (the output folder,
    also relative to the compose folder)."""
    return posixpath.relpath(posixpath.normpath(path), posixpath.normpath(base))


def _args(raw: YamlValue, where: str, notes: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    if raw is None:
        return out
    if isinstance(raw, dict):
        items = list(raw.items())
    elif isinstance(raw, list):
        items = []
        for item in raw:
            key, eq, value = str(item).partition("=")
            items.append((key, value if eq else None))
    else:
        raise BuildorchError(f"{where}: build.args must be a mapping or a list of KEY=VALUE")
    for key, value in items:
        if value is None:
            notes.append(f"{where}: build arg {key} takes its value from the environment; "
                         "left out (add it under args in services.toml)")
            continue
        out[str(key)] = str(value)
    return out


def import_compose(text: str, *, compose_name: str, output_dir: str,
                   read: Callable[[str], str | None]) -> Result:
    """services.toml text for the compose file `text`.

    `output_dir` is the services.toml folder relative to the compose file's folder (posix);
    `read(path)` returns a Dockerfile's text (path relative to the compose folder) or None.
    """
    data = read_yaml(text, compose_name)
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, dict):
        raise BuildorchError(f"{compose_name}: no `services:` mapping; is it a compose file?")
    notes: list[str] = []
    images: dict[str, Imported] = {}
    refs: dict[str, tuple[str | None, str | None]] = {}
    dockerfiles: dict[str, str] = {}
    skipped: list[str] = []
    for service, spec in services.items():
        where = f"{compose_name}: services.{service}"
        if not isinstance(spec, dict) or spec.get("build") is None:
            skipped.append(service)
            continue
        build = spec["build"]
        if isinstance(build, str):
            build = {"context": build}
        if not isinstance(build, dict):
            raise BuildorchError(f"{where}: build must be a path or a mapping")
        context = str(build.get("context") or ".")
        if re.match(r"[a-z]+://|git@", context):
            notes.append(f"{where}: remote build context {context} left out")
            continue
        if build.get("dockerfile_inline") is not None:
            notes.append(f"{where}: dockerfile_inline is not supported; left out")
            continue
        dockerfile = posixpath.join(context, str(build.get("dockerfile") or "Dockerfile"))
        image_ref = spec.get("image")
        if isinstance(image_ref, str) and image_ref:
            registry, name, tag = _split_image(image_ref)
        else:
            registry, name, tag = None, _norm_name(service), None
        if not NAME_RE.match(name):
            name = _norm_name(name)
        if name in images:
            raise BuildorchError(f"{where}: image name {name!r} is also built by "
                                 f"services.{images[name].service}; give one another image:")
        target = build.get("target")
        images[name] = Imported(
            name=name, service=str(service), repository=f"{registry}/{name}" if registry else name,
            context=_rel(output_dir, context), dockerfile=_rel(output_dir, dockerfile),
            args=tuple(sorted(_args(build.get("args"), where, notes).items())),
            target=str(target) if target else None)
        refs[name] = (registry, tag)
        dockerfiles[name] = posixpath.normpath(dockerfile)
    if not images:
        raise BuildorchError(f"{compose_name}: no service has a build: section; nothing to "
                             "import")
    if skipped:
        notes.append(f"{len(skipped)} service(s) without build: left out: "
                     + ", ".join(skipped))

    registry, tag = _project_ref(refs, notes)
    by_repo = {repository_of(f"{registry}/{n}" if registry else n): n for n in images}
    by_repo.update({repository_of(i.repository): n for n, i in images.items()})
    parents = {n: _parents(images[n], dockerfiles[n], read, by_repo, notes) for n in images}
    tiers = _tiers(parents)
    done = tuple(Imported(i.name, i.service, i.repository, i.context, i.dockerfile, i.args,
                          i.target, tuple(parents[n]), tiers[n]) for n, i in images.items())
    return Result(_render(done, registry, tag, compose_name), done, registry, tag, tuple(notes))


def _project_ref(refs: Mapping[str, tuple[str | None, str | None]], notes: list[str]
                 ) -> tuple[str | None, str]:
    """services.toml has one registry and one tag: the ones most images use."""
    registries = Counter(r for r, _ in refs.values())
    tags = Counter(t or "latest" for _, t in refs.values())
    registry = registries.most_common(1)[0][0]
    tag = tags.most_common(1)[0][0]
    odd = sorted(n for n, (r, t) in refs.items() if r != registry or (t or "latest") != tag)
    if odd:
        notes.append(f"services.toml has one registry and tag ({registry or 'none'}, {tag}); "
                     f"these images used others and now use them: {', '.join(odd)}")
    return registry, tag


def _parents(image: Imported, dockerfile: str, read: Callable[[str], str | None],
             by_repo: Mapping[str, str], notes: list[str]) -> list[str]:
    from buildorch.dockerlang.analysis import analyze

    text = read(dockerfile)
    if text is None:
        notes.append(f"{image.name}: {dockerfile} not found; no parents inferred")
        return []
    try:
        analysis = analyze(text, dict(image.args), image.target)
    except BuildorchError as exc:
        notes.append(f"{image.name}: cannot analyse {dockerfile} ({exc}); no parents inferred")
        return []
    found: list[str] = []
    for ref in analysis.external_images:
        parent = by_repo.get(repository_of(ref))
        if parent and parent != image.name and parent not in found:
            found.append(parent)
    return found


def _tiers(parents: Mapping[str, list[str]]) -> dict[str, str]:
    depth: dict[str, int] = {}

    def walk(n: str, trail: tuple[str, ...]) -> int:
        if n in trail:
            raise BuildorchError("FROM lines form a cycle: " + " -> ".join((*trail, n))
                                 + "; fix the Dockerfiles")
        if n not in depth:
            depth[n] = 1 + max((walk(p, (*trail, n)) for p in parents[n]), default=-1)
        return depth[n]

    has_children = {p for ps in parents.values() for p in ps}
    out = {}
    for n in parents:
        d = walk(n, ())
        if n not in has_children:
            out[n] = "services"
        else:
            out[n] = "foundation" if d == 0 else f"tier-{d}"
    return out


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def _render(images: tuple[Imported, ...], registry: str | None, tag: str,
            compose_name: str) -> str:
    q = json.dumps
    lines = [f"# Written by `buildorch init --from-compose {compose_name}`: edit freely.", "",
             "[project]"]
    if registry:
        lines.append(f"registry = {q(registry)}")
    lines += [f"tag = {q(tag)}", ""]
    used = {i.tier for i in images}
    depths = sorted(int(t[5:]) for t in used if t.startswith("tier-"))
    order = [t for t in ("foundation", *(f"tier-{d}" for d in depths), "services") if t in used]
    for t in order:
        lines += [f"[tiers.{t}]", ""]
    rank = {t: i for i, t in enumerate(order)}
    for section, kind_base in (("base", True), ("services", False)):
        chosen = [i for i in images if (i.tier != "services") == kind_base]
        for i in sorted(chosen, key=lambda i: (rank[i.tier], i.name)):
            lines.append(f"[{section}.{_key(i.name)}]")
            lines.append(f"tier = {q(i.tier)}")
            lines.append(f"context = {q(i.context)}")
            lines.append(f"dockerfile = {q(i.dockerfile)}")
            if i.target:
                lines.append(f"target = {q(i.target)}")
            if i.args:
                body = ", ".join(f"{_key(k)} = {q(v)}" for k, v in i.args)
                lines.append(f"args = {{ {body} }}")
            if i.parents:
                lines.append(f"# parents (from FROM lines): {', '.join(i.parents)}")
            lines.append("")
    return "\n".join(lines)
