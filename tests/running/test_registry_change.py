"""A repository shaped like the seed (`FROM ghcr.io/<owner>/python-base:latest`, also through
`ARG BASE_IMAGE`) whose services.toml now names another registry: the graph keeps its edges,
`validate` says which FROM lines are linked by name (naming the config file it read), and a
build puts each child on the parent it has just built, never on the stale `ghcr.io/…` image
the engine holds (proved with a nonce file that travels down the chain)."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import REGISTRY_HOST, SESSION, bo, docker, git, write_files

pytestmark = pytest.mark.usefixtures("engine")

OWNER = f"bo-test-{SESSION}-gp"


def _files(nonce: str) -> dict[str, str]:
    return {
        "services/base/Dockerfile.python-base":
            "FROM busybox:1.36\nCOPY services/base/nonce.txt /nonce.txt\n",
        "services/base/nonce.txt": f"{nonce}\n",
        "services/base/Dockerfile.python-ml":
            f"ARG BASE_IMAGE=ghcr.io/{OWNER}/python-base:latest\nFROM ${{BASE_IMAGE}}\n"
            "RUN cp /nonce.txt /ml-nonce.txt\n",
        "services/stt/Dockerfile":
            f"FROM ghcr.io/{OWNER}/python-ml:latest\nCOPY services/stt/app.py /app.py\n"
            "RUN cat /nonce.txt /ml-nonce.txt > /seen.txt\n",
        "services/stt/app.py": "print('stt')\n",
        ".dockerignore": ".git\n.buildorch\n",
        ".gitignore": ".buildorch/\n",
        # as init wrote it, for the Dockerfiles' registry
        "services.toml": f'[project]\nregistry = "ghcr.io/{OWNER}"\n'
                         '[base.python-base]\ntier = "foundation"\n'
                         'dockerfile = "services/base/Dockerfile.python-base"\n'
                         '[base.python-ml]\ntier = "tier-1"\n'
                         'dockerfile = "services/base/Dockerfile.python-ml"\n'
                         '[services.stt]\ndockerfile = "services/stt/Dockerfile"\n',
    }


@pytest.fixture
def seed_like(make_repo: Callable[..., Path], tmp_path: Path) -> Iterator[Path]:
    repo = make_repo(_files(uuid.uuid4().hex))
    text = (repo / "services.toml").read_text()
    # the user's local copy: another registry, and only the local cache
    write_files(repo, {"services-local.toml": text.replace(
        f"ghcr.io/{OWNER}", f"{REGISTRY_HOST}/{OWNER}") + '[cache]\nfrom = ["local"]\n'})
    # What the engine holds from before under the Dockerfiles' names: stale images.
    old = tmp_path / "old"
    write_files(old, {"Dockerfile": "FROM busybox:1.36\nRUN echo OLD > /nonce.txt && "
                                    "echo OLD > /ml-nonce.txt\n"})
    for name in ("python-base", "python-ml"):
        subprocess.run(["docker", "buildx", "build", "-q", "--load", "-t",
                        f"ghcr.io/{OWNER}/{name}:latest", str(old)], check=True,
                       capture_output=True)
    yield repo
    tags = [t for t in docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}").split()
            if f"/{OWNER}/" in t]
    if tags:
        docker("rmi", "-f", *tags, check=False)


def _seen(ref: str) -> list[str]:
    return docker("run", "--rm", "--network", "none", ref, "cat", "/seen.txt").split()


def test_graph_keeps_its_edges_and_validate_says_why(seed_like: Path) -> None:
    p = bo(seed_like, "--config", "services-local.toml", "graph", "--format", "json")
    assert p.returncode == 0, p.stderr
    parents = {i["name"]: i["parents"] for i in json.loads(p.stdout)["images"]}
    assert parents == {"python-base": [], "python-ml": ["python-base"], "stt": ["python-ml"]}
    v = bo(seed_like, "--config", "services-local.toml", "validate")
    assert v.returncode == 0, v.stderr
    assert v.stdout.strip() == "services-local.toml is valid"
    [note] = v.stderr.strip().splitlines()
    assert note.startswith("note: services-local.toml: 2 FROM line(s) name images built here "
                           f"under another registry than [project] registry {REGISTRY_HOST}/"
                           f"{OWNER}")
    assert f"FROM ghcr.io/{OWNER}/python-base:latest is python-base" in note


def test_a_build_puts_each_child_on_the_parent_just_built(seed_like: Path) -> None:
    local = f"{REGISTRY_HOST}/{OWNER}"
    for round_ in range(2):
        nonce = uuid.uuid4().hex
        write_files(seed_like, {"services/base/nonce.txt": f"{nonce}\n"})
        git(seed_like, "add", "-A")
        git(seed_like, "commit", "-qm", f"round {round_}")
        plan = bo(seed_like, "--config", "services-local.toml", "plan", "--json")
        assert [s["name"] for s in json.loads(plan.stdout)["stale"]] == [
            "python-base", "python-ml", "stt"], plan.stderr
        b = bo(seed_like, "--config", "services-local.toml", "build", "--progress", "plain",
               "--no-smoke", timeout=300)
        assert b.returncode == 0, b.stdout + b.stderr
        # said before the build, in one line
        assert (b.stdout + b.stderr).count("linked by name, and builds bind each") == 1
        assert _seen(f"{local}/stt:latest") == [nonce, nonce], b.stdout
    # the engine's own ghcr.io images are left as they were
    assert docker("run", "--rm", "--network", "none", f"ghcr.io/{OWNER}/python-base:latest",
                  "cat", "/nonce.txt").strip() == "OLD"
