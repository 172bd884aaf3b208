"""Image references normalized as Docker does (distribution/reference normalize.go)."""

from __future__ import annotations

import pytest

from buildorch.dockerlang.reference import context_key, is_pinned, normalize, parse

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("ref,full", [
    ("ubuntu", "docker.io/library/ubuntu:latest"),
    ("ubuntu:22.04", "docker.io/library/ubuntu:22.04"),
    ("library/ubuntu", "docker.io/library/ubuntu:latest"),
    ("docker.io/ubuntu", "docker.io/library/ubuntu:latest"),
    ("index.docker.io/library/ubuntu:22.04", "docker.io/library/ubuntu:22.04"),
    ("acme/base:1.2", "docker.io/acme/base:1.2"),
    ("docker.io/acme/base", "docker.io/acme/base:latest"),
    # a first component with '.' or ':' or `localhost` is a registry; a port is kept
    ("localhost:5000/x", "localhost:5000/x:latest"),
    ("localhost/x:1", "localhost/x:1"),
    ("127.0.0.1:5000/me/python-base", "127.0.0.1:5000/me/python-base:latest"),
    ("ghcr.io/gabrielpreston/python-base:latest", "ghcr.io/gabrielpreston/python-base:latest"),
    # a digest: no implicit tag; a tag and a digest: both kept
    (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}"),
    (f"busybox:1.36@{DIGEST}", f"docker.io/library/busybox:1.36@{DIGEST}"),
])
def test_normalize_as_docker(ref: str, full: str) -> None:
    assert normalize(ref) == full


@pytest.mark.parametrize("ref", ["", "foo/Bar", "a b", "x:bad tag", "x@sha256:12",
                                 "x:-lead", "UPPER"])
def test_what_docker_refuses_is_no_reference(ref: str) -> None:
    assert normalize(ref) is None
    with pytest.raises(ValueError):
        parse(ref)


def test_port_is_not_a_tag() -> None:
    p = parse("localhost:5000/x")
    assert (p.domain, p.path, p.tag) == ("localhost:5000", "x", "latest")
    assert parse("localhost:5000/x:2").tag == "2"


def test_digest_pinned() -> None:
    assert is_pinned(f"acme/base@{DIGEST}")
    assert not is_pinned("acme/base:1.2")
    assert parse(f"acme/base@{DIGEST}").digest == DIGEST


@pytest.mark.parametrize("ref,key", [
    ("docker.io/library/busybox:latest", "busybox"),
    ("ghcr.io/a/b:latest", "ghcr.io/a/b"),
    ("acme/base:1.2", "acme/base:1.2"),
    ("docker.io/acme/base:1.2", "acme/base:1.2"),
])
def test_build_context_key_is_buildkits_lookup(ref: str, key: str) -> None:
    assert context_key(ref) == key
