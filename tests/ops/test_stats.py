"""Cache analytics from real runs of a fixture stack: full, no change, one service changed,
then a forced rebuild that BuildKit serves entirely from cache."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from buildorch.edges import state
from buildorch.ops import stats as stats_mod
from tests.helpers import PREFIX, run_bo, stack

IMAGES = ("base", "a", "b", "c", "svc-a", "svc-b", "lone")


@pytest.fixture
def repo(make_repo: Callable[..., Path]) -> Iterator[Path]:
    """The fixture stack with a registry cache configured but never written: every cache
    import fails, and stats must say so. Its images are removed afterwards."""
    ns = uuid.uuid4().hex[:10]
    yield make_repo(stack(ns, cache_from='["local", "registry"]'), name=f"repo-{ns}")
    out = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"],
                         capture_output=True, text=True).stdout
    tags = [t for t in out.split() if t.startswith(f"{PREFIX}{ns}/")]
    if tags:
        subprocess.run(["docker", "rmi", "-f", *tags], capture_output=True)


def stats_json(repo: Path) -> dict[str, dict[str, dict[str, object]]]:
    p = subprocess.run([sys.executable, "-m", "buildorch", "stats", "--json"], cwd=repo,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert data["schema"] == 1 and set(data) == {"schema", "images", "tiers", "total"}
    return {"images": {r["name"]: r for r in data["images"]},
            "tiers": {r["name"]: r for r in data["tiers"]}, "total": {"all": data["total"]}}


def stats_text(repo: Path) -> tuple[str, str]:
    p = subprocess.run([sys.executable, "-m", "buildorch", "stats"], cwd=repo,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout, p.stderr


def row(text: str, title: str, name: str) -> list[str]:
    section = text.split(title + "\n", 1)[1].split("\n\n", 1)[0]
    return next(line.split() for line in section.splitlines() if line.split()[0] == name)


@pytest.mark.usefixtures("engine")
def test_stats_after_full_no_change_and_one_service_change(repo: Path) -> None:
    for change in (None, None, "services/svc-a/app.txt"):
        if change:
            (repo / change).write_text("changed\n")
        # --cache-to local: the docker driver exports none by default (its engine's build
        # cache is the local cache); asked for, it becomes a source once it exists
        rc, _, err = run_bo(repo, "build", "--cache-to", "local")
        assert rc == 0, err

    history = state.read_history(repo / ".buildorch")
    assert len(history) == 3 * len(IMAGES)
    s = stats_json(repo)
    images = s["images"]
    assert set(images) == set(IMAGES)
    # Order: tiers as configured, then names.
    assert list(images) == ["base", "a", "b", "c", "lone", "svc-a", "svc-b"]
    for name, r in images.items():
        changed = name == "svc-a"
        assert r["runs"] == 3
        assert r["built"] == (2 if changed else 1), name
        assert r["up_to_date"] == (1 if changed else 2), name
        assert r["failed"] == 0 and r["cancelled"] == 0 and r["reused"] == 0
        built = [h for h in history if h["image"] == name and h["result"] == "built"]
        steps = sum(int(h["steps"]) for h in built)  # type: ignore[call-overload]
        cached = sum(int(h["cached_steps"]) for h in built)  # type: ignore[call-overload]
        assert r["steps"] == steps > 0 and r["cached_steps"] == cached
        assert r["hit_rate"] == cached / steps
        assert r["last_s"] == built[-1]["duration_s"]
        # The local cache is a source once it exists (from each image's second build).
        assert r["cache_sources"] == (["registry", "local"] if changed else ["registry"])
        assert r["import_failures"] == r["built"]
        assert "cache import failed" in str(r["last_warning"])
    assert images["svc-a"]["hit_rate"] == 0.0   # new inputs in every one of its builds

    tiers = s["tiers"]
    assert list(tiers) == ["foundation", "tier-1", "services"]
    assert (tiers["foundation"]["runs"], tiers["foundation"]["built"]) == (3, 1)
    assert (tiers["tier-1"]["runs"], tiers["tier-1"]["built"],
            tiers["tier-1"]["up_to_date"]) == (9, 3, 6)
    assert (tiers["services"]["runs"], tiers["services"]["built"],
            tiers["services"]["up_to_date"]) == (9, 4, 5)
    total = s["total"]["all"]
    assert (total["runs"], total["built"], total["up_to_date"]) == (21, 8, 13)
    assert total["up_to_date_rate"] == 13 / 21

    text, err = stats_text(repo)
    assert row(text, "Cache hit rates (steps cached over built runs)", "svc-a")[:7] == [
        "svc-a", "services", "2", str(images["svc-a"]["steps"]), "0", "0%", "1/3"]
    assert row(text, "Cache hit rates per tier", "services")[5] == "5/9"
    assert row(text, "Build times (over built runs)", "lone")[:4] == ["lone", "services", "3",
                                                                      "1"]
    assert "warning: base: cache import failed in 1 of 1 build(s): cache import failed:" in err
    assert "... and 2 more image(s) with failed cache imports" in err   # five, then a count

    # A forced rebuild of unchanged inputs: BuildKit serves every step from the local cache.
    rc, _, err = run_bo(repo, "build", "--all")
    assert rc == 0, err
    last_run = state.read_history(repo / ".buildorch")[-len(IMAGES):]
    forced = stats_mod.compute(last_run)
    assert {r.name: r.hit_rate for r in forced.images} == dict.fromkeys(IMAGES, 1.0)
    assert forced.total.hit_rate == 1.0
    text, _ = stats_text(repo)
    assert row(text, "Cache hit rates (steps cached over built runs)", "lone")[5] == "50%"


def test_stats_with_no_history_says_so(make_repo: Callable[..., Path]) -> None:
    repo = make_repo(stack("nohistory"))
    out, _ = stats_text(repo)
    assert "no build history yet" in out
    assert stats_json(repo)["total"]["all"]["runs"] == 0


def test_source_labels() -> None:
    assert stats_mod.source_label("type=local,src=/r/.buildorch/cache/x") == "local"
    assert stats_mod.source_label("type=registry,ref=h:5000/x:buildcache") == (
        "registry h:5000/x:buildcache")
    assert stats_mod.source_label("type=gha,scope=x") == "gha x"
