"""What a build says about a registry that answers 401 (a `docker login` expired, a CI job
without login) or does not answer at all: warning lines on a 6-image build with registry
caches (from and to), and the time from `build --push` to its error. Side by side for two
interpreters (this checkout and, with --before PYTHON, another checkout's venv, e.g. main's),
on a private htpasswd registry started and stopped here.

Usage: python bench/registry_faults.py [--before /work/main/.venv/bin/python] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

IMAGES = ("base", "a", "b", "c", "d", "e")   # base -> a..e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_registry(tmp: Path, port: int) -> subprocess.Popen[bytes]:
    line = subprocess.run(["htpasswd", "-nbB", "user", "secret-pw"], check=True,
                          capture_output=True, text=True).stdout.strip()
    (tmp / "htpasswd").write_text(line + "\n")
    (tmp / "registry.yml").write_text(f"""version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: {tmp / "data"}
http:
  addr: 127.0.0.1:{port}
auth:
  htpasswd:
    realm: bench
    path: {tmp / "htpasswd"}
""")
    p = subprocess.Popen(["docker-registry", "serve", str(tmp / "registry.yml")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return p
        time.sleep(0.1)
    raise SystemExit("the registry did not start")


def make_repo(root: Path, registry: str) -> Path:
    repo = root / f"repo-{uuid.uuid4().hex[:6]}"
    repo.mkdir()
    toml = (f'[project]\nregistry = "{registry}"\njobs = 3\n'
            '[cache]\nfrom = ["local", "registry"]\nto = ["local", "registry"]\n'
            '[tiers.base]\n[tiers.services]\n'
            '[base.base]\ntier = "base"\ndockerfile = "base/Dockerfile"\n')
    (repo / "base").mkdir()
    (repo / "base/Dockerfile").write_text("FROM busybox:1.36\nCOPY base/v /v\n")
    (repo / "base/v").write_text(uuid.uuid4().hex)
    for n in IMAGES[1:]:
        toml += f'[services.{n}]\ntier = "services"\ndockerfile = "{n}/Dockerfile"\n'
        (repo / n).mkdir()
        (repo / n / "Dockerfile").write_text(f"FROM {registry}/base:latest\nCOPY {n}/v /v\n"
                                             "RUN cat /v\n")
        (repo / n / "v").write_text(uuid.uuid4().hex)
    (repo / "services.toml").write_text(toml)
    (repo / ".dockerignore").write_text(".buildorch\n.git\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x.invalid",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@x.invalid"}
    for argv in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "x"]):
        subprocess.run(argv, cwd=repo, env=env, check=True)
    return repo


def run(python: str, repo: Path, *args: str) -> tuple[int, str, str, float]:
    env = {**os.environ, "PYTHONPATH": ""}
    t = time.monotonic()
    p = subprocess.run([python, "-m", "buildorch", *args, "--progress", "plain"], cwd=repo,
                       env=env, capture_output=True, text=True, timeout=900)
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t


def measure(label: str, python: str, root: Path, registry: str, runs: int) -> None:
    warn, push_s, push_built, rcs, gone = [], [], [], [], []
    for _ in range(runs):
        repo = make_repo(root, f"127.0.0.1:{free_port()}/bench")   # nothing listens there
        _, _, err, _ = run(python, repo, "build")
        gone.append(sum(1 for ln in err.splitlines() if "warning" in ln.lower()))
        repo = make_repo(root, registry)
        rc, _, err, _ = run(python, repo, "build")
        rcs.append(rc)
        warn.append(sum(1 for ln in err.splitlines() if "warning" in ln.lower()))
        repo = make_repo(root, registry)
        rc2, out2, err2, took = run(python, repo, "build", "--push")
        push_s.append(took)
        push_built.append(out2.count("started ("))
    print(f"{label:<7} build exit {rcs}; warning lines on a 6-image build: {warn}; "
          f"build --push: exit {rc2}, {statistics.median(push_s):.2f}s to its error "
          f"(median of {runs}), images started before it: {push_built}")
    print(f"        warning lines, the registry not answering at all: {gone}")
    print(f"        last --push error: {(err2.strip().splitlines() or [''])[-1][:220]}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", help="another interpreter (e.g. main's venv) to compare")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    for tool in ("docker-registry", "htpasswd"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing (Debian: docker-registry, apache2-utils)")
    tmp = Path(tempfile.mkdtemp(prefix="bo-regbench-"))
    port = free_port()
    reg = start_registry(tmp, port)
    registry = f"127.0.0.1:{port}/bench"
    os.environ["DOCKER_CONFIG"] = str(tmp / "docker-config")   # nobody logged in
    (tmp / "docker-config").mkdir()
    try:
        if args.before:
            measure("before", args.before, tmp, registry, args.runs)
        measure("after", sys.executable, tmp, registry, args.runs)
    finally:
        os.killpg(reg.pid, signal.SIGTERM)
        reg.wait(10)
        refs = [r for r in subprocess.run(["docker", "images", "--format",
                                           "{{.Repository}}:{{.Tag}}"], capture_output=True,
                                          text=True).stdout.split()
                if r.startswith(f"127.0.0.1:{port}/")]
        if refs:
            subprocess.run(["docker", "rmi", "-f", *refs], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
