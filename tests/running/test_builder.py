"""Pure parts of the builder: argv from a spec, transient-fault classification, rawjson."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path

import pytest

from buildorch.running.buildx import (
    Progress,
    failure_reason,
    is_interrupted_export,
    is_transient,
)
from buildorch.running.events import Event, Step, Warned
from buildorch.running.spec import BuildSpec, argv


@pytest.mark.parametrize("output", [
    "ERROR: failed to solve: failed to do request: Head \"https://r/v2/x/manifests/1\": EOF",
    "failed to push 127.0.0.1:5000/x: 503 Service Unavailable",
    "read tcp 10.0.0.1:4431->1.2.3.4:443: read: connection reset by peer",
    "net/http: TLS handshake timeout",
    "dial tcp: i/o timeout",
    "failed to prepare extraction snapshot \"extract-1\": parent snapshot sha256:ab does not "
    "exist: not found",
])
def test_transient_faults_are_retried(output: str) -> None:
    assert is_transient(output)


@pytest.mark.parametrize("output", [
    "process \"/bin/sh -c exit 3\" did not complete successfully: exit code: 3",
    # a RUN that fails because of the network is still the Dockerfile's failure
    "connection reset by peer\nprocess \"/bin/sh -c pip install x\" did not complete "
    "successfully: exit code: 1",
    "failed to compute cache key: \"/missing.txt\": not found",
    "ERROR: failed to solve: dockerfile parse error on line 2: unknown instruction: COPYY",
])
def test_build_errors_are_never_retried(output: str) -> None:
    assert not is_transient(output)


def test_argv_is_a_list_built_from_the_spec(tmp_path: Path) -> None:
    spec = BuildSpec(name="stt", tags=("r/stt:latest",), dockerfile=tmp_path / "Dockerfile",
                     context=tmp_path, target="runtime", build_args=(("A", "1 2"),),
                     labels=(("k", "v"),), cache_from=("type=local,src=/c",),
                     cache_to=("type=local,dest=/c,mode=max",),
                     metadata_file=tmp_path / "m.json")
    cmd = argv(spec)
    assert cmd[:3] == ["docker", "buildx", "build"]
    assert cmd[cmd.index("--build-arg") + 1] == "A=1 2"   # one argv item, no shell quoting
    assert cmd[cmd.index("--target") + 1] == "runtime"
    assert "--load" in cmd and "--push" not in cmd and cmd[-1] == str(tmp_path)
    assert "--progress=rawjson" in cmd and "--provenance=false" in cmd


def test_rawjson_objects_become_step_events() -> None:
    events: list[Event] = []
    log: list[str] = []
    p = Progress("stt", events.append, log.append)
    p.feed('{"vertexes":[{"digest":"sha256:a","name":"[2/3] RUN make",'
           '"started":"2026-11-27T18:31:12.199176551Z"}]}')
    p.feed('{"vertexes":[{"digest":"sha256:a","name":"[2/3] RUN make",'
           '"started":"2026-11-27T18:31:12.199176551Z",'
           '"completed":"2026-11-27T18:31:13.5Z","cached":true}]}')
    p.feed('{"vertexes":[{"digest":"sha256:c","name":"importing cache manifest from r:bc",'
           '"error":"r:bc: not found"}]}')
    p.feed('{"vertexes":[{"digest":"sha256:b","name":"[3/3] RUN exit 3",'
           '"error":"exit code: 3"}]}')
    steps = [e for e in events if isinstance(e, Step)]
    assert [(s.name, s.cached, s.error) for s in steps] == [
        ("[2/3] RUN make", True, None), ("[3/3] RUN exit 3", False, "exit code: 3")]
    assert steps[0].completed is not None and steps[0].started is not None
    assert steps[0].completed - steps[0].started == pytest.approx(1.3008, abs=1e-3)
    assert (p.steps, p.cached_steps) == (2, 1)
    assert p.errors == ["[3/3] RUN exit 3: exit code: 3"]   # a failed cache import is no error
    assert any("cache import failed" in w for w in p.warnings)


INTERRUPTED_EXPORT = (
    "ERROR: failed to solve: exporting to image: failed to commit "
    "sha256:3f1e during finalize: failed to stat active key during commit: snapshot "
    "buildkit/3/abc does not exist: not found")


def test_an_interrupted_export_is_recognised_and_rebuilt_without_cache(tmp_path: Path) -> None:
    assert is_interrupted_export(INTERRUPTED_EXPORT)
    assert not is_interrupted_export("process \"/bin/sh -c exit 3\" did not complete "
                                     "successfully: exit code: 3")
    assert not is_transient(INTERRUPTED_EXPORT), "a plain retry repeats it"
    spec = BuildSpec(name="x", tags=("x:1",), dockerfile=tmp_path / "D", context=tmp_path)
    assert "--no-cache" not in argv(spec)
    assert "--no-cache" in argv(replace(spec, no_cache=True))


def test_cache_outages_are_warned_once_with_their_reason_not_found_is_quiet() -> None:
    events: list[Event] = []
    p = Progress("stt", events.append, lambda line: None)
    p.feed('{"vertexes":[{"digest":"sha256:c","name":"importing cache manifest from r/x:bc",'
           '"error":"r/x:bc: not found"}]}')
    p.feed('{"vertexes":[{"digest":"sha256:d","name":"importing cache manifest from r/y:bc",'
           '"error":"dial tcp 127.0.0.1:5999: connect: connection refused"}]}')
    p.feed('{"logs":[{"vertex":"sha256:e","data":"'
           + base64.b64encode(b"error: dial tcp 127.0.0.1:5999: connection refused\n").decode()
           + '"}]}')
    p.feed('{"vertexes":[{"digest":"sha256:e","name":"exporting cache to registry",'
           '"error":"failed to export cache"}]}')
    p.feed('{"vertexes":[{"digest":"sha256:e","name":"exporting cache to registry",'
           '"error":"failed to export cache"}]}')   # repeated status: said once
    said = [e.message for e in events if isinstance(e, Warned)]
    assert len(said) == 2, said
    assert said[0].startswith("cache import failed (r/y:bc): dial tcp") and "refused" in said[0]
    assert said[1].startswith("cache export failed") and "connection refused" in said[1]
    # an import never fails the build; an export that does (a local cache) names its reason
    assert p.errors == ["exporting cache to registry: failed to export cache"]


def test_a_docker_context_builder_runs_as_docker_context_buildx_and_pins_parents(
        tmp_path: Path) -> None:
    spec = BuildSpec(name="svc", tags=("r/svc:latest",), dockerfile=tmp_path / "Dockerfile",
                     context=tmp_path, docker_context="gpu-box",
                     build_contexts=(("r/base:latest", "docker-image://r/base@sha256:ab"),))
    cmd = argv(spec)
    assert cmd[:5] == ["docker", "--context", "gpu-box", "buildx", "build"]
    assert "--builder" not in cmd
    assert cmd[cmd.index("--build-context") + 1] == \
        "r/base:latest=docker-image://r/base@sha256:ab"


def test_failure_reason_names_the_error_never_the_hint() -> None:
    tail = ("ERROR: Cache export is not supported for the docker driver.",
            "Switch to a different driver, or turn on the containerd image store, and try again.",
            "Learn more at https://docs.docker.com/go/build-cache-backends/")
    assert failure_reason([], ["Cache export is not supported for the docker driver."], tail,
                          1) == "Cache export is not supported for the docker driver."
    step = '[3/3] RUN exit 3: process "/bin/sh -c exit 3" did not complete successfully: ' \
           "exit code: 3"
    assert failure_reason([step], ["failed to solve: process ..."], tail, 1) == step
    assert failure_reason([], [], ("boom", "Learn more at https://x", ""), 1) == "boom"
    assert failure_reason([], [], (), 2) == "docker buildx build exited 2"


def test_buildx_error_lines_are_collected_from_the_plain_text() -> None:
    p = Progress("x", lambda e: None, lambda s: None)
    p.feed("ERROR: Cache export is not supported for the docker driver.")
    p.feed("Learn more at https://docs.docker.com/go/build-cache-backends/")
    assert p.error_lines == ["Cache export is not supported for the docker driver."]


def test_named_contexts_reach_buildx_as_build_contexts(tmp_path: Path) -> None:
    from buildorch.config import load
    from buildorch.planning.digest import Record
    from buildorch.running.options import BuildOptions
    from buildorch.running.spec import named_context, spec_for

    for d in ("app", "shared", "base"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "Dockerfile").write_text("FROM busybox\n")
    (tmp_path / "services.toml").write_text(
        '[project]\nregistry = "reg.example/t"\n[base.base]\ncontext = "base"\n'
        '[services.app]\ncontext = "app"\ncontexts = { shared = "shared", root = "target:base",'
        ' tools = "docker-image://busybox:1.36" }\n')
    cfg = load(tmp_path / "services.toml")
    spec = spec_for(cfg, "app", Record("d", "", {}, None, None, {}), BuildOptions())
    cmd = argv(spec)
    got = [cmd[i + 1] for i, w in enumerate(cmd) if w == "--build-context"]
    assert got == ["root=docker-image://reg.example/t/base:latest",
                   f"shared={tmp_path / 'shared'}", "tools=docker-image://busybox:1.36"]
    # pinned to the image just built, by digest
    assert named_context(cfg, "target:base", "sha256:" + "a" * 64) == \
        "docker-image://reg.example/t/base@sha256:" + "a" * 64
