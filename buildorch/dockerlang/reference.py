"""Image references, as Docker normalizes them for comparison.

Upstream: github.com/distribution/reference `normalize.go` (`ParseNormalizedNamed`,
`FamiliarName`): a Docker Hub name is compared without `docker.io/` and `library/`; a tag or a
digest does not change which repository a reference names.
"""

from __future__ import annotations

__all__ = ["familiar_reference", "repository_of"]


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
