"""Builder facts -> caches and parent routes (pure). A docker-container builder cannot be created
offline here (it needs the moby/buildkit image), so its decisions are covered only here."""

from __future__ import annotations

import pytest

from buildorch.edges.capabilities import BuilderInfo, image_store
from buildorch.errors import BuildorchError
from buildorch.running.cache import cache_plan
from buildorch.running.strategy import parent_plan

CONTAINERD = BuilderInfo("default", "docker", "unix:///var/run/docker.sock", current=True,
                         image_store="containerd")
CLASSIC = BuilderInfo("default", "docker", "unix:///var/run/docker.sock", current=True,
                      image_store="classic")
OTHER_ENGINE = BuilderInfo("gpu-box", "docker", "ssh://gpu-box", same_engine=False,
                           image_store="containerd")
CONTAINER = BuilderInfo("ci", "docker-container", "unix:///var/run/docker.sock",
                        same_engine=False)
CURRENT_CONTAINER = BuilderInfo("ci", "docker-container", "unix:///var/run/docker.sock",
                                current=True, same_engine=False)


def test_image_store_from_docker_info() -> None:
    assert image_store({"Driver": "overlayfs",
                        "DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]]}) \
        == "containerd"
    assert image_store({"Driver": "overlay2",
                        "DriverStatus": [["Backing Filesystem", "extfs"]]}) == "classic"
    assert image_store({"Driver": "overlay2", "DriverStatus": None}) == "classic"


def test_docker_driver_exports_no_local_cache_its_engine_keeps_one() -> None:
    plan = cache_plan(["local", "registry"], ["local", "registry"], [], CONTAINERD)
    assert plan.sinks == ("registry",)
    assert plan.sources == ("local", "registry")
    assert plan.notes == ()   # nothing lost: the engine's own cache is the local cache
    assert any(w.startswith("local: not exported") for w in plan.why)


def test_local_cache_where_the_builder_may_not_keep_it_or_when_asked() -> None:
    assert cache_plan(["local"], ["local"], [], CONTAINER).sinks == ("local",)
    assert cache_plan(["local"], ["local"], ["local"], CONTAINERD).sinks == ("local",)


def test_classic_store_drops_what_it_cannot_export_with_one_note_never_an_error() -> None:
    plan = cache_plan(["local", "registry"], ["local", "registry", "gha"], [], CLASSIC)
    assert plan.sinks == ()
    assert plan.inline_for_pushed
    assert plan.sources == ("local", "registry", "image")   # the pushed image's inline cache
    [note] = plan.notes
    assert "classic image store" in note and "registry, gha not exported" in note
    # the demo's configuration (local only) loses nothing on the classic store: no note
    assert cache_plan(["local"], ["local"], [], CLASSIC).notes == ()


def test_cache_to_on_the_command_line_replaces_the_configured_list() -> None:
    plan = cache_plan(["registry"], ["local", "registry"], ["inline"], CONTAINERD)
    assert plan.sinks == ("inline",)
    assert cache_plan(["registry"], ["registry"], ["inline"], CLASSIC).sinks == ("inline",)


def test_an_asked_destination_the_builder_cannot_do_is_one_error() -> None:
    with pytest.raises(BuildorchError) as exc:
        cache_plan(["registry"], ["local"], ["registry"], CLASSIC, where=" ([tiers.base])")
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith("--cache-to registry: builder 'default'")
    assert "[tiers.base]" in msg and "containerd image store" in msg


def test_container_and_other_engine_builders_can_export_every_cache() -> None:
    for b in (CONTAINER, OTHER_ENGINE):
        assert cache_plan([], ["registry", "gha", "inline"], [], b).sinks == \
            ("registry", "gha", "inline")


def test_how_each_builder_is_run() -> None:
    assert (CONTAINERD.docker_context, CONTAINERD.buildx_builder) == (None, None)
    assert (OTHER_ENGINE.docker_context, OTHER_ENGINE.buildx_builder) == ("gpu-box", None)
    assert (CONTAINER.docker_context, CONTAINER.buildx_builder) == (None, "ci")
    assert not CONTAINERD.via_registry
    assert OTHER_ENGINE.via_registry and CONTAINER.via_registry and CURRENT_CONTAINER.via_registry


PARENTS = {"base": (), "ml": ("base",), "svc": ("ml",), "lone": ()}


def test_same_engine_docker_driver_uses_the_loaded_parent() -> None:
    plan = parent_plan(["base", "ml", "svc"], PARENTS, dict.fromkeys(PARENTS, CONTAINERD),
                       registry=None)
    assert plan.pins == {} and not plan.built_remotely and not plan.push_after_build


def test_current_container_builder_pins_every_child_to_the_pushed_parent() -> None:
    """`docker buildx create --use` (the seed's Makefile, setup-buildx-action): the builder
    reads FROM from the registry, so a child must read the parent just pushed, by digest."""
    plan = parent_plan(["base", "ml", "svc", "lone"], PARENTS,
                       dict.fromkeys(PARENTS, CURRENT_CONTAINER), registry="r")
    assert plan.pins == {"ml": ("base",), "svc": ("ml",)}
    assert plan.built_remotely == {"base", "ml", "svc", "lone"}   # pushed, then pulled here
    assert plan.push_after_build == frozenset() and plan.push_fresh == frozenset()


def test_child_on_another_engine_gets_the_local_parent_pushed_fresh_or_rebuilt() -> None:
    builders = {"base": CONTAINERD, "ml": CONTAINERD, "svc": OTHER_ENGINE}
    plan = parent_plan(["ml", "svc"], PARENTS, builders, registry="r")
    assert plan.pins == {"svc": ("ml",)} and plan.push_after_build == {"ml"}
    assert plan.built_remotely == {"svc"}
    # the parent not rebuilt in this run is pushed as it is before the child builds
    plan = parent_plan(["svc"], PARENTS, builders, registry="r")
    assert plan.push_fresh == {"ml"} and plan.pins == {"svc": ("ml",)}


def test_parent_on_another_engine_reaches_a_local_child_by_digest() -> None:
    builders = {"base": OTHER_ENGINE, "ml": CONTAINERD, "svc": CONTAINERD}
    plan = parent_plan(["base", "ml", "svc"], PARENTS, builders, registry="r")
    assert plan.pins == {"ml": ("base",)}
    assert plan.built_remotely == {"base"} and plan.push_after_build == frozenset()


def test_no_registry_is_one_error_before_anything_starts() -> None:
    with pytest.raises(BuildorchError) as exc:
        parent_plan(["base", "ml"], PARENTS, {"base": CONTAINERD, "ml": OTHER_ENGINE},
                    registry=None)
    msg = str(exc.value)
    assert "\n" not in msg and "set [project] registry" in msg and "'gpu-box'" in msg
    with pytest.raises(BuildorchError, match="set \\[project\\] registry"):
        parent_plan(["base", "ml"], PARENTS, dict.fromkeys(PARENTS, CURRENT_CONTAINER),
                    registry=None)


def test_container_builder_without_registry_loads_images_without_parents() -> None:
    plan = parent_plan(["lone"], PARENTS, {"lone": CURRENT_CONTAINER}, registry=None)
    assert plan.pins == {} and plan.built_remotely == frozenset()
