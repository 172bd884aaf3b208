"""Image references, as Docker normalizes them for comparison.

Upstream: github.com/distribution/reference `normalize.go` (`ParseNormalizedNamed`,
`FamiliarName`, `TagNameOnly`) and `regexp.go`: a Docker Hub name is compared without
`docker.io/` and `library/`; an image built here is found by its full normalized reference
(`parse`, `normalize`), tag included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Reference", "context_key", "familiar_reference", "is_pinned", "normalize", "parse",
           "repository_of"]


def repository_of(ref: str) -> str:
    """`ghcr.io/acme/base:1.0@sha256:…` -> `ghcr.io/acme/base`; Docker Hub prefixes dropped."""
    name = ref.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name = name[:colon]
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/",
                   "index.docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    return name


def familiar_reference(ref: str) -> str:
    """One spelling per image reference, as `reference.ParseNormalizedNamed` + `TagNameOnly`
    see it: `docker.io/library/busybox` and `busybox:latest` are both `busybox:latest`."""
    slash = ref.find("/")
    first = ref[:slash] if slash >= 0 else ""
    if slash >= 0 and ("." in first or ":" in first or first == "localhost"):
        domain, remainder = first, ref[slash + 1:]
    else:
        domain, remainder = "docker.io", ref
    if domain in ("docker.io", "index.docker.io"):
        domain = ""
        remainder = remainder.removeprefix("library/") if remainder.count("/") == 1 \
            else remainder
    name, at, digest = remainder.partition("@")
    if not at and ":" not in name:
        name += ":latest"
    return (f"{domain}/" if domain else "") + name + (at + digest)


# --- full references: distribution/reference `normalize.go`, `regexp.go` (v0.6.0) -------------

_ALNUM = r"[a-z0-9]+"
_SEP = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEP}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_RE = re.compile(rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})"
                        r"(?::[0-9]+)?")
_PATH_RE = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"


@dataclass(frozen=True)
class Reference:
    """A normalized image reference: `docker.io/library/ubuntu:latest`."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        return (self.repository + (f":{self.tag}" if self.tag else "")
                + (f"@{self.digest}" if self.digest else ""))


def parse(ref: str) -> Reference:
    """`ParseNormalizedNamed` + `TagNameOnly`: the implicit `docker.io`, `library/` for a
    one-part Docker Hub name, and `latest` when neither a tag nor a digest is given.
    Raises ValueError (the reason) for what Docker refuses."""
    if not ref or ref != ref.strip():
        raise ValueError("an empty reference or one with spaces")
    name, at, digest = ref.partition("@")
    if at and not _DIGEST_RE.fullmatch(digest):
        raise ValueError(f"invalid digest {digest!r}")
    slash = name.find("/")
    tag: str | None = None
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
        if not _TAG_RE.fullmatch(tag):
            raise ValueError(f"invalid tag {tag!r}")
    first = name[:slash] if slash >= 0 else ""
    if slash < 0 or ("." not in first and ":" not in first and first != "localhost"
                     and first.lower() == first):
        domain, path = DEFAULT_DOMAIN, name
    else:
        domain, path = first, name[slash + 1:]
        if not _DOMAIN_RE.fullmatch(domain):
            raise ValueError(f"invalid registry {domain!r}")
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_PREFIX + path
    if path.lower() != path:
        raise ValueError("repository name must be lowercase")
    if not _PATH_RE.fullmatch(path):
        raise ValueError(f"invalid repository name {path!r}")
    if tag is None and not at:
        tag = "latest"
    return Reference(domain, path, tag, digest or None)


def normalize(ref: str) -> str | None:
    """`ubuntu` -> `docker.io/library/ubuntu:latest`; None for what is not a reference."""
    try:
        return str(parse(ref))
    except ValueError:
        return None


def is_pinned(ref: str) -> bool:
    """A digest-pinned reference (`…@sha256:…`) names exactly one external image."""
    return "@" in ref


def context_key(ref: str) -> str:
    """The name BuildKit looks a `--build-context` up by for a FROM of `ref`
    (dockerui `NamedContext`: `FamiliarString`, `:latest` trimmed)."""
    return familiar_reference(ref).removesuffix(":latest")
