"""`buildorch doctor` on both image stores, and when something needed is missing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from buildorch.edges.registry_probe import registry_host
from tests.helpers import bo, stack


@pytest.mark.parametrize(("registry", "host"), [
    ("ghcr.io/acme", "ghcr.io"), ("127.0.0.1:5000/demo", "127.0.0.1:5000"),
    ("localhost:5000", "localhost:5000"), ("acme", "registry-1.docker.io"),
    ("acme/team", "registry-1.docker.io"),
])
def test_registry_host(registry: str, host: str) -> None:
    assert registry_host(registry) == host


def test_doctor_reports_engine_builder_caches_registry_and_disk(
        store: str, make_repo: Callable[..., Path]) -> None:
    ns = uuid.uuid4().hex[:10]
    repo = make_repo(stack(ns, cache_from='["local", "registry"]',
                           cache_to='["local", "registry"]'), name=f"repo-{ns}")
    p = bo(repo, "doctor", "--json")
    assert p.returncode == 0, p.stdout + p.stderr
    d = json.loads(p.stdout)
    assert d["problems"] == []
    assert d["engine"]["version"] and d["engine"]["api"]
    [b] = d["builders"]
    assert b["current"] and b["driver"] == "docker" and b["reachable"]
    assert sorted(b["tiers"]) == ["foundation", "services", "tier-1"]
    assert d["registry"]["reachable"] and d["registry"]["push"] is True
    assert d["disk"]["free"] > 0
    assert "local" not in d["cache"]["to"]          # the engine's cache is the local cache
    assert d["cache"]["from"][:2] == ["local", "registry"]
    if store == "classic":
        assert d["engine"]["image_store"] == "classic"
        assert b["can_export"] == ["inline"] and d["cache"]["to"] == []
        assert any("classic image store cannot" in w for w in d["cache"]["why"])
    else:
        assert "registry" in d["cache"]["to"] or d["engine"]["image_store"] == "classic"
    text = bo(repo, "doctor")
    assert text.returncode == 0
    assert f"{d['engine']['image_store']} image store" in text.stdout
    assert "no problems found" in text.stdout


def test_doctor_says_what_is_missing_and_exits_1(engine: None,
                                                 make_repo: Callable[..., Path]) -> None:
    ns = uuid.uuid4().hex[:10]
    files = stack(ns, cache_to='["registry"]')   # written to: a registry that is a problem
    files["services.toml"] = files["services.toml"].replace(
        "[tiers.services]", '[tiers.services]\nbuilder = "no-such-builder"').replace(
        "127.0.0.1:5000/", "127.0.0.1:5999/")
    repo = make_repo(files, name=f"repo-{ns}")
    p = bo(repo, "doctor", "--json")
    assert p.returncode == 1
    problems = json.loads(p.stdout)["problems"]
    assert any(x.startswith("[tiers.services]: buildx builder 'no-such-builder' does not "
                            "exist; create it") for x in problems), problems
    assert any("127.0.0.1:5999" in x and "does not answer" in x for x in problems), problems
    text = bo(repo, "doctor")
    assert text.returncode == 1 and "2 problem(s):" in text.stdout
