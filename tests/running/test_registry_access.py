"""What a run asks of the registry and what it does when refused: pure decisions."""

from __future__ import annotations

import pytest

from buildorch.edges.registry_probe import Access
from buildorch.errors import BuildorchError
from buildorch.planning.plan import Plan
from buildorch.running.registry import Needs, lost_registry, needs_of, verdict
from buildorch.running.report import BuildReport

HOST = "127.0.0.1:5001"


def access(*, reachable: bool = True, pull: bool | None = True, push: bool | None = True,
           credentials: bool = False) -> Access:
    return Access(f"{HOST}/team", HOST, reachable, 401 if reachable else "refused", pull,
                  push, credentials)


def test_needs_follow_the_caches_and_options() -> None:
    assert not needs_of(push=False, sources=["local"], sinks=["local"], parents_cross=False,
                        reuse=False)
    n = needs_of(push=True, sources=["registry"], sinks=["registry"], parents_cross=False,
                 reuse=False)
    assert n.must_push == ("--push",) and n.push == ("its cache export",)
    assert n.pull == ("its cache import",)
    assert needs_of(push=False, sources=["image"], sinks=[], parents_cross=True,
                    reuse=True) == Needs(("parents read by other builders",), (),
                                         ("its cache import", "reuse"))


def test_a_push_the_run_needs_is_refused_before_anything_builds() -> None:
    with pytest.raises(BuildorchError, match=rf"--push: registry {HOST} refuses to let this "
                       rf"user push: no credentials for it \(run `docker login {HOST}`\)"):
        verdict(Needs(must_push=("--push",)), access(pull=False, push=False))
    with pytest.raises(BuildorchError, match="credentials were refused"):
        verdict(Needs(must_push=("--push",)), access(push=False, credentials=True))
    assert verdict(Needs(must_push=("--push",)), access()).warning == ""


def test_caches_refused_are_one_warning_with_the_fix() -> None:
    v = verdict(Needs(push=("its cache export",), pull=("its cache import",)),
                access(pull=False, push=False))
    assert v.no_pull and v.no_push and v.host == HOST
    assert f"docker login {HOST}" in v.warning and "its cache import, its cache export" \
        in v.warning and '[cache] from = ["local"]' in v.warning
    only_push = verdict(Needs(push=("its cache export",), pull=("its cache import",)),
                        access(pull=True, push=False))
    assert not only_push.no_pull and only_push.no_push
    assert '[cache] to = ["local"]' in only_push.warning
    gone = verdict(Needs(pull=("its cache import",)), access(reachable=False, pull=None,
                                                             push=None))
    assert gone.no_pull and f"registry {HOST} does not answer (refused)" in gone.warning
    # A probe that could not tell (None) is no reason to drop anything.
    assert verdict(Needs(pull=("reuse",)), access(pull=None)).warning == ""


def test_per_image_registry_warnings_are_told_once_per_host_and_counted() -> None:
    assert lost_registry(f"cache import failed ({HOST}/team/a:buildcache): 401") == HOST
    assert lost_registry(f"push of {HOST}/team/a:bo-123 failed (x): y") == HOST
    assert lost_registry("cache import failed (type=local): gone") is None
    assert lost_registry("local cache housekeeping skipped") is None
    report = BuildReport(Plan((), (), "manifest"), ())
    assert report.ran_without(HOST, "a") is True
    assert report.ran_without(HOST, "b") is False
    assert report.ran_without(HOST, "a") is False
    assert report.without_registry == {HOST: {"a", "b"}}
