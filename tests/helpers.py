"""Test helpers, in one place: git repositories, the CLI as a subprocess, the fixture stack.

Test modules import from here, never from each other.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from buildorch.running.buildx import BuildResult

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent",
}
REGISTRY_HOST = "127.0.0.1:5000"
# One namespace per test session: the session removes only its own images at the end, so
# concurrent sessions (several checkouts on one laptop) never remove each other's.
SESSION = uuid.uuid4().hex[:6]
PREFIX = f"{REGISTRY_HOST}/bo-test-{SESSION}-"
# The private classic-store engine the tests start and leave running (tests/engines.py).
CLASSIC_ENGINE = "tests-classic"


def unavailable(why: str) -> NoReturn:
    """What this test needs is not here: fail under CI (CI=true installs everything, and a
    skip there would hide a red build), skip everywhere else, with `why` as the reason."""
    if os.environ.get("CI") == "true":
        pytest.fail(why, pytrace=False)
    pytest.skip(why)


def need_tool(name: str, hint: str) -> str:
    """The path of the command `name` (the venv's bin first), or `unavailable` with `hint`."""
    path = shutil.which(name, path=os.pathsep.join([str(Path(sys.executable).parent),
                                                     os.environ.get("PATH", "")]))
    if path is None:
        unavailable(f"{name} is not installed ({hint})")
    return path


def need_module(name: str, hint: str) -> ModuleType:
    """The module `name`, or `unavailable` with `hint`."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        unavailable(f"{name} cannot be imported ({exc}; {hint})")



def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    env.pop("GIT_DIR", None)
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True,
                          text=True).stdout


def settle_index(root: Path) -> None:
    """Waits until git's index stays as it is and was written in an earlier second: git may
    compare ctimes to the second, so a plan keeps its permission scan only then
    (`edges.permscan.settled`). Files written in the index's second are "racily clean" to git,
    which rewrites the index once more."""
    from buildorch.edges.permscan import index_stamp, settled

    while True:
        git(root, "status", "--porcelain")
        stamp = index_stamp(root)
        assert stamp is not None
        while not settled(stamp, time.time_ns()):
            time.sleep(0.02)
        git(root, "status", "--porcelain")
        if index_stamp(root) == stamp:
            return


def session_images(env: Mapping[str, str] | None = None) -> list[str]:
    """What this session left on an engine, for `docker rmi -f`: its tags (under PREFIX), and
    by id the images of its repositories whose tag moved on (`repo:<none>`: no tag to name)."""
    out = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}\t{{.ID}}"],
                         env=None if env is None else {**os.environ, **env},
                         capture_output=True, text=True).stdout
    refs: list[str] = []
    for row in out.splitlines():
        ref, _, image_id = row.partition("\t")
        if ref.startswith(PREFIX):
            refs.append(image_id if ref.endswith(":<none>") else ref)
    return list(dict.fromkeys(refs))


def remove_images(refs: list[str], env: Mapping[str, str] | None = None) -> None:
    """`docker rmi -f` of many images, four calls at a time: the engine removes one image per
    call at a time, and on the containerd store that is CPU-bound there (~2 s an image at the
    end of a full run, one call: 12 minutes; four: about half)."""
    from concurrent.futures import ThreadPoolExecutor

    full = None if env is None else {**os.environ, **env}
    chunks = [refs[i:i + 25] for i in range(0, len(refs), 25)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda chunk: subprocess.run(["docker", "rmi", "-f", *chunk], env=full,
                                                   capture_output=True), chunks))


def write_files(root: Path, files: Mapping[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def docker(*args: str, check: bool = True, cwd: Path | None = None) -> str:
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True,
                          cwd=cwd).stdout


def bo(cwd: Path, *args: str, env: Mapping[str, str] | None = None, stdin: str | None = None,
       timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`buildorch ARGS` in `cwd`, as a user runs it (GitHub Actions variables removed)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "buildorch", *args], cwd=cwd, env=full,
                          input=stdin, capture_output=True, text=True, timeout=timeout)


def stack(ns: str, *, tier1_parallel: int = 1, jobs: int = 2, step_timeout: str = "10m",
          cache_from: str = '["local"]', cache_to: str = '["local"]',
          extra: dict[str, str] | None = None) -> dict[str, str]:
    """base -> a, b, c (tier-1) -> svc-a, svc-b; `lone` stands apart. Every RUN sleeps a bit so
    that overlaps can be seen in event timestamps."""
    reg = f"{PREFIX}{ns}"
    files = {
        "services.toml": f"""
[project]
registry = "{reg}"
jobs = {jobs}
[cache]
from = {cache_from}
to = {cache_to}
[tiers.foundation]
[tiers.tier-1]
max_parallel = {tier1_parallel}
[tiers.services]
step_timeout = "{step_timeout}"
[base.base]
tier = "foundation"
dockerfile = "images/base.Dockerfile"
[base.a]
tier = "tier-1"
dockerfile = "images/a.Dockerfile"
[base.b]
tier = "tier-1"
dockerfile = "images/b.Dockerfile"
[base.c]
tier = "tier-1"
dockerfile = "images/c.Dockerfile"
[services.svc-a]
tier = "services"
dockerfile = "services/svc-a/Dockerfile"
[services.svc-b]
tier = "services"
dockerfile = "services/svc-b/Dockerfile"
[services.lone]
tier = "services"
dockerfile = "services/lone/Dockerfile"
""",
        "images/base.Dockerfile": f"FROM busybox:1.36\nCOPY base.txt /base.txt\n"
                                  f"RUN echo {ns} > /ns && sleep 1\n",
        ".dockerignore": ".git\n.buildorch\n",
        ".gitignore": ".buildorch/\n",
        "base.txt": "base\n",
    }
    for t in ("a", "b", "c"):
        files[f"images/{t}.Dockerfile"] = (f"FROM {reg}/base:latest\nCOPY {t}.txt /{t}.txt\n"
                                           f"RUN cat /{t}.txt && sleep 1\n")
        files[f"{t}.txt"] = f"{t}\n"
    for s, parent in (("svc-a", f"{reg}/a:latest"), ("svc-b", f"{reg}/b:latest"),
                      ("lone", "busybox:1.36")):
        files[f"services/{s}/Dockerfile"] = (f"FROM {parent}\nCOPY services/{s}/app.txt /app\n"
                                             "RUN cat /app && sleep 1\n")
        files[f"services/{s}/app.txt"] = f"{s} {ns}\n"
    files.update(extra or {})
    return files


def run_bo(repo: Path, *args: str, timeout: float = 300, env: Mapping[str, str] | None = None
           ) -> tuple[int, list[dict[str, object]], str]:
    full = None if env is None else {**os.environ, **env}
    p = subprocess.run([sys.executable, "-m", "buildorch", *args, "--progress", "json"],
                       cwd=repo, capture_output=True, text=True, timeout=timeout, env=full)
    events = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    return p.returncode, events, p.stderr


def names(events: list[dict[str, object]], kind: str) -> list[str]:
    return [str(e["image"]) for e in events if e["event"] == kind]


def intervals(events: list[dict[str, object]]) -> dict[str, tuple[float, float]]:
    start = {e["image"]: e["time"] for e in events if e["event"] == "started"}
    end = {e["image"]: e["time"] for e in events if e["event"] in ("finished", "failed")}
    return {str(n): (float(start[n]), float(end[n])) for n in start  # type: ignore[arg-type]
            if n in end}


def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def manifest(repo: Path) -> dict[str, object]:
    data = json.loads((repo / ".buildorch/manifest.json").read_text())
    assert isinstance(data, dict)
    return data


def buildkit_build(repo: Path, tag: str, image: str = "app") -> BuildResult:
    """A real `docker buildx build` of one configured image as buildorch passes it (its
    Dockerfile, context, target and build args), tagged `tag`, nothing shown: the judge of
    what the planner says."""
    import threading

    from buildorch.config import load
    from buildorch.running.buildx import run_build
    from buildorch.running.spec import BuildSpec

    img = load(repo / "services.toml").images[image]
    spec = BuildSpec(name=image, tags=(tag,), dockerfile=repo / img.dockerfile,
                     context=repo / img.context, target=img.target, build_args=img.args)
    return run_build(spec, emit=lambda e: None, cancel=threading.Event(),
                     log_path=repo / ".buildorch" / "bk.log", timeout_s=120,
                     step_timeout_s=None)


def record_manifest(repo: Path, config: str = "services.toml") -> None:
    """What a good build leaves behind: every image of the tree as it is, in the manifest."""
    from buildorch.edges import state
    from buildorch.planning.baseline import open_config, work_snapshot

    cfg = open_config(repo / config)
    snap = work_snapshot(cfg)
    state.record_many(cfg.state_dir, {n: (r, None) for n, r in snap.records.items()})


def story(events: list[dict[str, object]], stderr: str = "", last: int = 40) -> str:
    """For an assertion message: the events that led here (steps abridged) and stderr."""
    lines = []
    for e in events[-last:]:
        extra = {k: v for k, v in e.items() if k not in ("event", "image", "time", "log_tail")}
        if e["event"] == "step":
            extra = {"name": str(e.get("name"))[:80], "error": e.get("error")}
        lines.append(f"  {e['event']:<10} {e['image']!s:<14} {json.dumps(extra)[:300]}")
        for t in list(e.get("log_tail") or [])[-8:]:  # type: ignore[call-overload]
            lines.append(f"      | {t}")
    return "events:\n" + "\n".join(lines) + (f"\nstderr:\n{stderr}" if stderr else "")


def write_context(docker_config: Path, name: str, host: str, *, tls: bool = False,
                  skip_verify: bool = False) -> Path:
    """A docker context in the CLI's store under `docker_config`, laid out as `docker context
    create` writes it (capitalised keys; TLS files under contexts/tls/<id>/docker/)."""
    import hashlib

    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = docker_config / "contexts" / "meta" / digest / "meta.json"
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps({"Name": name, "Metadata": {}, "Endpoints": {
        "docker": {"Host": host, "SkipTLSVerify": skip_verify}}}))
    if tls:
        certs = docker_config / "contexts" / "tls" / digest / "docker"
        certs.mkdir(parents=True, exist_ok=True)
        for f in ("ca", "cert", "key"):
            (certs / f"{f}.pem").write_text(f"{f}\n")
    return meta


def seed(reg: str, ns: str = "") -> dict[str, str]:
    """A repository shaped like the seed's (audio-orchestrator): bases at
    services/base/Dockerfile.<name> published as `{reg}/<name>:latest` (ghcr.io/<owner>/<name>
    there), python-base -> python-ml / python-audio -> python-ml-audio, five services, one
    through `ARG BASE_IMAGE`; a compose file and a test compose file that `extends` it.
    8 images; every RUN is a plain echo (no network)."""
    files = {
        "services.toml": f"""
[project]
registry = "{reg}"
jobs = 2
[cache]
from = ["local"]
to = ["local"]
[tiers.foundation]
[tiers.tier-1]
[tiers.tier-2]
[tiers.services]
[base.python-base]
tier = "foundation"
dockerfile = "services/base/Dockerfile.python-base"
[base.python-ml]
tier = "tier-1"
dockerfile = "services/base/Dockerfile.python-ml"
[base.python-audio]
tier = "tier-1"
dockerfile = "services/base/Dockerfile.python-audio"
[base.python-ml-audio]
tier = "tier-2"
dockerfile = "services/base/Dockerfile.python-ml-audio"
"""
        + "".join(f'[services.{s}]\ntier = "services"\ndockerfile = "services/{s}/Dockerfile"\n'
                  for s in ("stt", "llm", "discord", "waketrainer")),
        "services/base/Dockerfile.python-base": "FROM busybox:1.36\n"
                                                "COPY requirements/base.txt /req/\n"
                                                f"RUN echo base {ns} > /base\n",
        "services/base/Dockerfile.python-ml": f"FROM {reg}/python-base:latest\n"
                                              "COPY requirements/ml.txt /req/\nRUN echo ml\n",
        "services/base/Dockerfile.python-audio": f"FROM {reg}/python-base:latest\n"
                                                 "RUN echo audio\n",
        "services/base/Dockerfile.python-ml-audio": f"ARG BASE_IMAGE={reg}/python-ml:latest\n"
                                                    "FROM ${BASE_IMAGE}\nRUN echo ml-audio\n",
        "requirements/base.txt": "requests\n",
        "requirements/ml.txt": "numpy\n",
        ".dockerignore": ".git\n",
        "docker-compose.yml": "services:\n" + "".join(
            f"  {s}:\n    build:\n      context: .\n      dockerfile: services/{s}/Dockerfile\n"
            f"      args:\n        BUILDKIT_INLINE_CACHE: 1\n      cache_from:\n"
            f"        - {reg}/{s}:latest\n    image: {reg}/{s}:latest\n"
            for s in ("stt", "llm", "discord", "waketrainer")),
        "docker-compose.test.yml": "services:\n" + "".join(
            f"  {s}-test:\n    extends:\n      file: docker-compose.yml\n      service: {s}\n"
            "    environment:\n      - TESTING=1\n" for s in ("stt", "llm")),
    }
    parents = {"stt": "python-ml-audio", "llm": "python-ml", "discord": "python-audio",
               "waketrainer": "python-ml"}
    for s, parent in parents.items():
        first = (f"ARG BASE_IMAGE={reg}/{parent}:latest\nFROM ${{BASE_IMAGE}}\n"
                 if s == "stt" else f"FROM {reg}/{parent}:latest\n")
        files[f"services/{s}/Dockerfile"] = (first + f"COPY services/{s}/ /app/\n"
                                             f"RUN cat /app/main.py\n")
        files[f"services/{s}/main.py"] = f"print('{s}')\n"
    return files
