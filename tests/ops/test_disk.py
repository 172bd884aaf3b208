"""Disk guard, cleanup policies and the pip-cache volume, on the real engine (each test that
needs it says so).

The engine is shared with other tests: every real cleanup here is scoped with a label only this
test's images and volumes carry (and a scoped cleanup leaves the build cache alone).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import pytest

from buildorch.config import Tier
from buildorch.edges.engine import Engine
from buildorch.errors import BuildorchError
from buildorch.ops import disk
from tests.helpers import PREFIX, bo, docker, stack


class Scope:
    """Images and volumes of one test, all carrying `label`."""

    def __init__(self, tmp: Path) -> None:
        self.key = uuid.uuid4().hex[:10]
        self.label = f"org.buildorch.test={self.key}"
        self.tmp = tmp
        self.tags: list[str] = []
        self.volumes: list[str] = []

    def image(self, tag: str | None = None) -> None:
        d = self.tmp / f"ctx-{uuid.uuid4().hex[:6]}"
        d.mkdir()
        (d / "Dockerfile").write_text(f"FROM busybox:1.36\nRUN echo {d.name} > /x\n")
        # buildorch's own label too: cleanup only ever removes images buildorch built
        argv = ["buildx", "build", "-q", "--load", "--provenance=false", "--label", self.label,
                "--label", f"{disk.OWN_LABEL}=test"]
        if tag:
            argv += ["-t", tag]
            self.tags.append(tag)
        docker(*argv, ".", cwd=d)

    def dangling(self) -> list[str]:
        return docker("images", "-q", "--filter", "dangling=true", "--filter",
                       f"label={self.label}").split()

    def volume(self, suffix: str, *labels: str) -> str:
        name = f"bo-test-{self.key}-{suffix}"
        docker("volume", "create", "--label", self.label, *(a for lab in labels
                                                               for a in ("--label", lab)), name)
        self.volumes.append(name)
        return name


def volume_exists(name: str) -> bool:
    p = subprocess.run(["docker", "volume", "inspect", name], capture_output=True)
    return p.returncode == 0


def image_exists(ref: str) -> bool:
    p = subprocess.run(["docker", "image", "inspect", ref], capture_output=True)
    return p.returncode == 0


@pytest.fixture
def scope(tmp_path: Path) -> Iterator[Scope]:
    s = Scope(tmp_path)
    yield s
    ids = s.dangling()
    if ids:
        subprocess.run(["docker", "rmi", "-f", *ids], capture_output=True)
    if s.tags:
        subprocess.run(["docker", "rmi", "-f", *s.tags], capture_output=True)
    if s.volumes:
        subprocess.run(["docker", "volume", "rm", "-f", *s.volumes], capture_output=True)


@pytest.mark.usefixtures("engine")
def test_cache_volume_is_created_once_labeled_and_prints_the_compose_snippet(
        tmp_path: Path) -> None:
    first = bo(tmp_path, "cache", "volume")
    again = bo(tmp_path, "cache", "volume")
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert "volume pip-cache already exists" in again.stdout
    assert "pip-cache:/root/.cache/pip" in again.stdout and "external: true" in again.stdout
    labels = docker("volume", "inspect", "pip-cache", "--format",
                     "{{index .Labels \"org.buildorch.protect\"}}").strip()
    assert labels == "true"


@pytest.mark.usefixtures("engine")
def test_threshold_that_cannot_be_met_cleans_then_stops_with_one_line(
        scope: Scope, tmp_path: Path) -> None:
    assert bo(tmp_path, "cache", "volume").returncode == 0
    tagged = f"{PREFIX}{scope.key}/keep:latest"
    scope.image(tagged)
    scope.image()                                          # dangling: cleanup removes it
    junk = scope.volume("junk", f"{disk.ANONYMOUS_LABEL}=")
    kept = scope.volume("kept", f"{disk.ANONYMOUS_LABEL}=", f"{disk.PROTECT_LABEL}=true")
    assert len(scope.dangling()) == 1

    engine = Engine.connect()
    _, where = disk.free_bytes(engine)
    st = os.statvfs(where) if os.path.isdir(where) else None
    size = st.f_blocks * st.f_frsize if st else 10**15
    tier = Tier("tier-2", min_free=size + 1, cleanup="conservative")     # more than the disk
    guard = disk.DiskGuard(engine, label=scope.label)
    with pytest.raises(BuildorchError) as err:
        guard.check(tier)
    line = str(err.value)
    assert "\n" not in line
    assert "tier tier-2:" in line and "needed" in line and "free in" in line
    assert "already ran conservative cleanup freed" in line and "1 dangling image(s)" in line
    assert "1 unused anonymous volume(s)" in line
    assert "lower min_free in [tiers.tier-2]" in line

    assert scope.dangling() == []                          # cleanup did run
    assert not volume_exists(junk)
    assert volume_exists(kept) and volume_exists("pip-cache")
    assert image_exists(tagged) and image_exists("busybox:1.36")

    # Once per tier per run: the second image of the tier gets the same answer, no new cleanup.
    scope.image()
    with pytest.raises(BuildorchError) as again:
        guard.check(tier)
    assert again.value is err.value
    assert len(scope.dangling()) == 1


@pytest.mark.usefixtures("engine")
def test_guard_passes_quietly_when_there_is_room(scope: Scope) -> None:
    guard = disk.DiskGuard(Engine.connect(), label=scope.label)
    assert guard.check(Tier("foundation", min_free=1, cleanup="basic")) is None
    assert guard.check(Tier("services", min_free=0, cleanup="standard")) is None


@pytest.mark.usefixtures("engine")
def test_guard_reports_what_cleanup_did_when_that_was_enough(scope: Scope) -> None:
    scope.image()
    calls: list[int] = []

    def measure(engine: Engine) -> tuple[int, str]:
        calls.append(1)
        return (10 if len(calls) == 1 else 10**12), "/data"   # below, then room after cleanup

    guard = disk.DiskGuard(Engine.connect(), label=scope.label, measure=measure)
    note = guard.check(Tier("tier-1", min_free=10**9, cleanup="basic"))
    assert note is not None and "after basic cleanup freed" in note
    assert "1 dangling image(s)" in note
    assert scope.dangling() == []
    assert guard.check(Tier("tier-1", min_free=10**9, cleanup="basic")) is None
    assert len(calls) == 2


@pytest.mark.usefixtures("engine")
def test_clean_dry_run_deletes_nothing_then_basic_removes_the_dangling_image(
        scope: Scope, tmp_path: Path) -> None:
    tagged = f"{PREFIX}{scope.key}/keep:latest"
    scope.image(tagged)
    scope.image()
    (dangling,) = scope.dangling()

    dry = bo(tmp_path, "clean", "--dry-run", "--label", scope.label)
    assert dry.returncode == 0, dry.stderr
    assert "basic (dry run): would free" in dry.stdout
    assert "1 dangling image(s)" in dry.stdout and dangling[:12] in dry.stdout
    assert scope.dangling() == [dangling]

    dry = bo(tmp_path, "clean", "--dry-run", "--policy", "conservative", "--label", scope.label)
    assert dry.returncode == 0 and scope.dangling() == [dangling]

    real = bo(tmp_path, "clean", "--policy", "basic", "--label", scope.label)
    assert real.returncode == 0, real.stderr
    assert "basic: freed" in real.stdout and "1 dangling image(s)" in real.stdout
    assert "free in " in real.stdout
    assert scope.dangling() == []
    assert image_exists(tagged)


def test_unknown_policy_is_one_line() -> None:
    # said before the engine is asked anything: a stand-in that cannot answer is enough
    with pytest.raises(BuildorchError, match="unknown cleanup policy 'all': use one of basic,"):
        disk.clean(cast(Engine, object()), "all", dry_run=True)


@pytest.mark.usefixtures("engine")
def test_disk_shows_free_space_thresholds_and_what_the_engine_holds(
        make_repo: Callable[..., Path]) -> None:
    files = stack(uuid.uuid4().hex[:10])
    files["services.toml"] = files["services.toml"].replace(
        "[tiers.foundation]\n", "[tiers.foundation]\nmin_free = \"2GB\"\ncleanup = \"basic\"\n"
    ).replace("[tiers.tier-1]\n", "[tiers.tier-1]\nmin_free = \"1000TB\"\n"
              "cleanup = \"conservative\"\n")
    repo = make_repo(files)
    p = bo(repo, "disk")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("free: ") and " in " in lines[0]
    foundation = next(x for x in lines if x.strip().startswith("foundation"))
    assert "min_free" in foundation and "2.0 GB" in foundation and "basic" in foundation
    tier1 = next(x for x in lines if x.strip().startswith("tier-1"))
    assert "1000.0 TB" in tier1 and "conservative" in tier1 and "BELOW" in tier1
    services = next(x for x in lines if x.strip().startswith("services"))
    assert "min_free         -" in services
    for what in ("images", "build cache", "volumes"):
        assert any(x.strip().startswith(what) for x in lines), p.stdout


def test_the_data_root_is_measured_here_only_when_it_is_this_machines(tmp_path: Path) -> None:
    import socket

    from buildorch.edges.endpoint import Endpoint

    here = Engine(Endpoint("unix:///var/run/docker.sock", "the default socket"))
    info = {"DockerRootDir": str(tmp_path), "Name": socket.gethostname(),
            "OperatingSystem": "Debian GNU/Linux 12 (bookworm)"}
    assert disk.data_root_here(here, info)
    # Docker Desktop / Colima: a local socket to an engine in a VM, whose data root path may
    # exist here too (another engine's)
    assert not disk.data_root_here(here, {**info, "Name": "docker-desktop",
                                          "OperatingSystem": "Docker Desktop"})
    assert not disk.data_root_here(here, {**info, "Name": "colima"})
    assert not disk.data_root_here(here, {**info, "DockerRootDir": str(tmp_path / "gone")})
    remote = Engine(Endpoint("tcp://builder.lan:2376", "DOCKER_HOST"))
    assert not disk.data_root_here(remote, info)
