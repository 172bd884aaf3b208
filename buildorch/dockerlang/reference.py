"""Image references, as Docker normalizes them for comparison.

Upstream: github.com/distribution/reference `normalize.go` (`ParseNormalizedNamed`,
`FamiliarName`): a Docker Hub name is compared without `docker.io/` and `library/`; a tag or a
digest does not change which repository a reference names.
"""

from __future__ import annotations

__all__ = ["repository_of"]


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
