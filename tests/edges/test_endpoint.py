"""Which engine the user means: the docker CLI's resolution order, its context store read as the
CLI writes it, and the environment a docker subprocess gets. Pure: files in a temp folder."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from buildorch.edges.endpoint import DEFAULT_SOCKET, TLS, Endpoint, resolve
from buildorch.edges.engine import client_kwargs, no_engine
from buildorch.errors import BuildorchError
from tests.helpers import write_context

LAPTOP = "unix:///Users/me/.colima/default/docker.sock"
OTHER = "unix:///run/other.sock"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A CLI config folder with two contexts, `laptop` current."""
    cfg = tmp_path / "cfg"
    write_context(cfg, "laptop", LAPTOP)
    write_context(cfg, "other", OTHER)
    (cfg / "config.json").write_text(json.dumps({"auths": {}, "currentContext": "laptop"}))
    return cfg


def test_resolution_order_is_the_clis(store: Path) -> None:
    env = {"DOCKER_CONFIG": str(store)}
    cur = resolve(env)
    assert (cur.host, cur.context) == (LAPTOP, "laptop")
    assert cur.source == f"currentContext in {store / 'config.json'}"
    assert cur.describe() == f"context laptop (currentContext in {store}/config.json): {LAPTOP}"
    # DOCKER_CONTEXT beats currentContext
    named = resolve({**env, "DOCKER_CONTEXT": "other"})
    assert (named.host, named.source, named.hidden) == (OTHER, "DOCKER_CONTEXT", "")
    # DOCKER_HOST beats both, and says what it hides
    host = resolve({**env, "DOCKER_CONTEXT": "other", "DOCKER_HOST": "tcp://h:2375"})
    assert (host.host, host.context, host.source) == ("tcp://h:2375", "default", "DOCKER_HOST")
    assert host.hidden == "DOCKER_CONTEXT=other"
    hides_current = resolve({**env, "DOCKER_HOST": "tcp://h:2375"})
    assert hides_current.hidden == f"context laptop (currentContext in {store}/config.json)"
    # --context beats everything
    flag = resolve({**env, "DOCKER_HOST": "tcp://h:2375", "DOCKER_CONTEXT": "laptop"}, "other")
    assert (flag.host, flag.source, flag.context) == (OTHER, "--context", "other")
    # an empty DOCKER_HOST is unset, as for the CLI
    assert resolve({**env, "DOCKER_HOST": ""}).host == LAPTOP
    # "default" names the default socket, wherever it is said
    assert resolve({**env, "DOCKER_CONTEXT": "default"}).host == DEFAULT_SOCKET
    (store / "config.json").write_text('{"currentContext": "default"}')
    assert resolve(env) == Endpoint(DEFAULT_SOCKET, "the default socket")


def test_no_config_json_is_the_default_socket(tmp_path: Path) -> None:
    ep = resolve({"DOCKER_CONFIG": str(tmp_path / "nothing-here")})
    assert ep == Endpoint(DEFAULT_SOCKET, "the default socket")
    assert ep.local_socket == DEFAULT_SOCKET.removeprefix("unix://")


def test_config_dir_defaults_to_home_docker(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    write_context(tmp_path / ".docker", "colima", LAPTOP)
    (tmp_path / ".docker" / "config.json").write_text('{"currentContext": "colima"}')
    ep = resolve({})
    assert (ep.host, ep.source) == (LAPTOP, "currentContext in ~/.docker/config.json")


def test_keys_are_read_case_insensitively(store: Path) -> None:
    (store / "config.json").write_text('{"CurrentContext": "odd"}')
    digest = hashlib.sha256(b"odd").hexdigest()
    meta = store / "contexts" / "meta" / digest / "meta.json"
    meta.parent.mkdir(parents=True)
    meta.write_text('{"name": "odd", "endpoints": {"DOCKER": {"host": "tcp://odd:2376", '
                    '"skipTLSVerify": true}}}')
    ep = resolve({"DOCKER_CONFIG": str(store)})
    assert (ep.host, ep.context) == ("tcp://odd:2376", "odd")
    assert ep.tls == TLS(None, None, None, verify=False)


def test_tls_files_come_from_the_store(store: Path) -> None:
    write_context(store, "remote", "tcp://builder.lan:2376", tls=True)
    ep = resolve({"DOCKER_CONFIG": str(store), "DOCKER_CONTEXT": "remote"})
    certs = store / "contexts" / "tls" / hashlib.sha256(b"remote").hexdigest() / "docker"
    assert ep.tls == TLS(str(certs / "ca.pem"), str(certs / "cert.pem"), str(certs / "key.pem"),
                         verify=True)
    # DOCKER_HOST with DOCKER_TLS_VERIFY: the files in DOCKER_CERT_PATH
    env = {"DOCKER_CONFIG": str(store), "DOCKER_HOST": "tcp://h:2376",
           "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(certs)}
    assert resolve(env).tls == ep.tls
    assert resolve({**env, "DOCKER_TLS_VERIFY": ""}).tls is None


@pytest.mark.parametrize(("env", "flag", "fix"), [
    ({"DOCKER_CONTEXT": "nope"}, None, "set DOCKER_CONTEXT to one that `docker context ls` "
                                       "lists, or unset it"),
    ({}, "nope", "pass one that `docker context ls` lists"),
])
def test_an_unknown_context_is_one_error(store: Path, env: dict[str, str], flag: str | None,
                                         fix: str) -> None:
    with pytest.raises(BuildorchError) as err:
        resolve({"DOCKER_CONFIG": str(store), **env}, flag)
    [line] = str(err.value).splitlines()
    assert line.startswith("docker context 'nope' (")
    assert line.endswith(f"does not exist in {store}/contexts: {fix}")


def test_a_current_context_that_is_gone_says_docker_context_use(store: Path) -> None:
    (store / "config.json").write_text('{"currentContext": "gone"}')
    with pytest.raises(BuildorchError, match=r"^docker context 'gone' \(currentContext in .*"
                       r"config.json\) does not exist .*: `docker context use default`"):
        resolve({"DOCKER_CONFIG": str(store)})


def test_broken_files_are_one_error_naming_the_file(store: Path) -> None:
    (store / "config.json").write_text("{not json")
    with pytest.raises(BuildorchError, match=r"config.json \(the docker CLI's config\) cannot "
                                             r"be read \(JSONDecodeError"):
        resolve({"DOCKER_CONFIG": str(store)})
    # DOCKER_HOST does not need the file: it still resolves
    assert resolve({"DOCKER_CONFIG": str(store), "DOCKER_HOST": OTHER}).host == OTHER
    meta = write_context(store, "empty", "")
    with pytest.raises(BuildorchError, match=r"has no docker endpoint in .*meta\.json"):
        resolve({"DOCKER_CONFIG": str(store), "DOCKER_CONTEXT": "empty"})
    meta.write_text("[]")
    with pytest.raises(BuildorchError, match="has no docker endpoint"):
        resolve({"DOCKER_CONFIG": str(store), "DOCKER_CONTEXT": "empty"})


def test_a_docker_subprocess_is_pinned_to_the_endpoint(store: Path) -> None:
    env = {"DOCKER_CONFIG": str(store), "PATH": "/bin", "DOCKER_HOST": "tcp://stale:2375"}
    by_flag = resolve(env, "other").pin(env)
    assert by_flag == {"DOCKER_CONFIG": str(store), "PATH": "/bin", "DOCKER_CONTEXT": "other"}
    by_host = resolve({**env, "DOCKER_CONTEXT": "laptop"})
    assert by_host.pin({**env, "DOCKER_CONTEXT": "laptop"}) == env
    plain = {"DOCKER_CONFIG": str(store)}
    assert resolve(plain).pin(plain) == {**plain, "DOCKER_CONTEXT": "laptop"}
    gone = {"DOCKER_CONFIG": str(store / "none")}
    assert resolve(gone).pin(gone) == {**gone, "DOCKER_CONTEXT": "default"}


def test_unreachable_says_what_was_tried_where_from_and_what_to_do(store: Path) -> None:
    env = {"DOCKER_CONFIG": str(store)}
    ctx = no_engine(resolve(env), ConnectionRefusedError())
    assert ctx.startswith(f"no Docker engine reachable at context laptop (currentContext in "
                          f"{store}/config.json): {LAPTOP} (ConnectionRefusedError): start the "
                          "engine behind that context")
    assert "`colima start`" in ctx and "`docker context use` another" in ctx
    host = no_engine(resolve({**env, "DOCKER_HOST": OTHER}))
    assert "unset DOCKER_HOST if it is stale" in host
    default = no_engine(resolve({"DOCKER_CONFIG": str(store / "none")}))
    assert "start Docker (Docker Desktop" in default and "`docker context use NAME`" in default
    plain_tcp = no_engine(resolve({**env, "DOCKER_HOST": "tcp://h:2376"}))
    assert "no TLS configured for it" in plain_tcp
    for text in (ctx, host, default, plain_tcp):
        assert "scripts/" not in text and "\n" not in text


def test_tls_and_ssh_endpoints_get_a_client_or_one_error(
        store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_context(store, "remote", "tcp://127.0.0.1:9", tls=True)
    ep = resolve({"DOCKER_CONFIG": str(store), "DOCKER_CONTEXT": "remote"})
    import docker

    assert ep.tls is not None
    # the client as docker-py makes it (the version given: nothing answers there)
    client = docker.DockerClient(**client_kwargs(ep, 1), version="1.44")
    assert client.api.base_url == "https://127.0.0.1:9"
    assert client.api.cert == (ep.tls.cert, ep.tls.key) and client.api.verify == ep.tls.ca
    no_ca = Endpoint("tcp://h:2376", "DOCKER_HOST", tls=TLS(None, "c", "k", verify=True))
    with pytest.raises(BuildorchError, match=r"wants TLS verified and there is no ca\.pem"):
        client_kwargs(no_ca, 1)
    ssh = Endpoint("ssh://me@builder", "DOCKER_HOST")
    monkeypatch.setenv("PATH", str(store))   # no ssh client on it
    with pytest.raises(BuildorchError, match="reached over ssh, and no `ssh` client is on PATH"):
        client_kwargs(ssh, 1)
