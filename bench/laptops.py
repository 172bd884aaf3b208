"""Laptops: a second engine reached only through a docker context, the four ways a laptop
points the CLI at it, and what buildorch does in each. Then the no-change run through a
context vs through DOCKER_HOST, side by side.

The second engine stands in for the laptop's (Docker Desktop, OrbStack, Colima…): give its
socket with --laptop-host (e.g. the tests' private engine: `python -m tests.engines up
tests-classic classic` prints it). A private DOCKER_CONFIG (a temp folder) holds the contexts;
the user's ~/.docker is never read or written. The default socket is this machine's engine.

  (a) currentContext -> laptop engine; the default socket is another engine
  (b) currentContext -> laptop engine; no default socket (hidden by a private mount namespace)
  (c) DOCKER_CONTEXT=laptop, no currentContext
  (d) DOCKER_HOST=laptop engine while currentContext names a context on the other engine

Per scenario: full build rc; images built by a second, no-change run; stale in `status`; the
6 images in the laptop engine / in the other engine; `doctor` rc.
`--src DIR` runs the buildorch package found in DIR (e.g. an export of main) instead of this
checkout's. Usage: python bench/laptops.py --laptop-host unix:///run/bo-…/docker.sock
                   [--src DIR] [--runs 15] [--only a,b,c,d] [--no-timing]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOCKET = "unix:///var/run/docker.sock"
HIDE = ["unshare", "-m", "--propagation", "private", "sh", "-c",
        'mount --bind /dev/null /var/run/docker.sock && exec "$@"', "sh"]
IMAGES = ("base", "a", "b", "svc-a", "svc-b", "lone")


def repo_files(reg: str) -> dict[str, str]:
    """6 images: base -> a, b -> svc-a, svc-b; lone apart."""
    toml = f'[project]\nregistry = "{reg}"\n[cache]\nfrom = []\nto = []\n' \
           '[tiers.foundation]\n[tiers.tier-1]\n[tiers.services]\n'
    files = {".dockerignore": ".git\n.buildorch\n", ".gitignore": ".buildorch/\n"}
    parents = {"base": "busybox:1.36", "a": f"{reg}/base:latest", "b": f"{reg}/base:latest",
               "svc-a": f"{reg}/a:latest", "svc-b": f"{reg}/b:latest", "lone": "busybox:1.36"}
    for name, parent in parents.items():
        kind, tier = (("base", "foundation") if name == "base" else
                      ("base", "tier-1") if name in ("a", "b") else ("services", "services"))
        toml += f'[{kind}.{name}]\ntier = "{tier}"\ndockerfile = "{name}.Dockerfile"\n'
        files[f"{name}.Dockerfile"] = f"FROM {parent}\nCOPY {name}.txt /{name}.txt\n"
        files[f"{name}.txt"] = f"{name} {reg}\n"
    files["services.toml"] = toml
    return files


def run(argv: list[str], env: Mapping[str, str], cwd: Path | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=dict(env), cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def make_repo(reg: str) -> Path:
    repo = Path(tempfile.mkdtemp(prefix="bo-laptops-"))
    for rel, text in repo_files(reg).items():
        (repo / rel).write_text(text)
    genv = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x.invalid",
            "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@x.invalid"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "i"]):
        subprocess.run(["git", *args], cwd=repo, env=genv, check=True, capture_output=True)
    return repo


def held(host: str, refs: list[str]) -> int:
    env = {**os.environ, "DOCKER_HOST": host}
    env.pop("DOCKER_CONTEXT", None)
    return sum(run(["docker", "image", "inspect", r], env).returncode == 0 for r in refs)


def scenario(name: str, laptop: str, src: Path | None) -> dict[str, object]:
    cfgdir = Path(tempfile.mkdtemp(prefix="bo-laptops-cfg-"))
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("DOCKER_", "BUILDX_", "GITHUB_"))}
    base["DOCKER_CONFIG"] = str(cfgdir)
    if src is not None:
        base["PYTHONPATH"] = str(src)
    run(["docker", "context", "create", "laptop", "--docker", f"host={laptop}"], base)
    env = dict(base)
    wrap: list[str] = []
    if name in ("a", "b"):
        run(["docker", "context", "use", "laptop"], base)
        wrap = HIDE if name == "b" else []
    elif name == "c":
        env["DOCKER_CONTEXT"] = "laptop"
    else:
        run(["docker", "context", "create", "decoy", "--docker", f"host={DEFAULT_SOCKET}"], base)
        run(["docker", "context", "use", "decoy"], base)
        env["DOCKER_HOST"] = laptop
    ns = uuid.uuid4().hex[:8]
    reg = f"127.0.0.1:5000/bo-laptops-{ns}"
    refs = [f"{reg}/{n}:latest" for n in IMAGES]
    repo = make_repo(reg)
    bo = [*wrap, sys.executable, "-m", "buildorch"]
    try:
        first = run([*bo, "build", "--progress", "json"], env, repo)
        second = run([*bo, "build", "--progress", "json"], env, repo)
        started = [e for e in (json.loads(x) for x in second.stdout.splitlines()
                               if x.startswith("{")) if e.get("event") == "started"]
        status = run([*bo, "status", "--json"], env, repo)
        try:
            stale = len(json.loads(status.stdout)["stale"])
        except ValueError:
            stale = -1
        doctor = run([*bo, "doctor"], env, repo)
        err = (first.stderr.strip().splitlines() or [""])[-1]
        return {"scenario": name, "build_rc": first.returncode,
                "second_run_built": len(started) if second.returncode == 0 else -1,
                "status_stale": stale, "in_laptop": held(laptop, refs),
                "in_other": held(DEFAULT_SOCKET, refs), "doctor_rc": doctor.returncode,
                "first_error": err if first.returncode else "",
                "repo": repo, "env": env, "wrap": wrap, "cfgdir": cfgdir, "refs": refs}
    finally:
        for host in (laptop, DEFAULT_SOCKET):
            run(["docker", "rmi", "-f", *refs], {**os.environ, "DOCKER_HOST": host})


def timing(laptop: str, src: Path | None, runs: int) -> None:
    """No-change `buildorch build` through currentContext vs through DOCKER_HOST, alternating,
    same repo, same engine."""
    info = scenario("a", laptop, src)   # built through the context; images then removed
    repo, cfgdir = info["repo"], info["cfgdir"]
    assert isinstance(repo, Path) and isinstance(cfgdir, Path)
    ctx_env = dict(info["env"])  # type: ignore[call-overload]
    host_env = {**ctx_env, "DOCKER_HOST": laptop}
    host_env.pop("DOCKER_CONFIG", None)
    host_env["DOCKER_CONFIG"] = tempfile.mkdtemp(prefix="bo-laptops-plain-")
    bo = [sys.executable, "-m", "buildorch", "build", "--progress", "plain"]
    assert run(bo, ctx_env, repo).returncode == 0   # rebuild what the scenario removed
    times: dict[str, list[float]] = {"context": [], "DOCKER_HOST": []}
    for _ in range(runs + 1):
        for label, env in (("context", ctx_env), ("DOCKER_HOST", host_env)):
            t0 = time.perf_counter()
            p = run(bo, env, repo)
            dt = time.perf_counter() - t0
            if p.returncode != 0 or "up to date" not in (p.stdout + p.stderr):
                raise SystemExit(f"{label}: not a no-change run: {p.stdout[-300:]}"
                                 f"{p.stderr[-300:]}")
            times[label].append(dt)
    for label in times:
        times[label] = times[label][1:]   # the first pair warms the page cache
    for label, ts in times.items():
        print(f"no-change build through {label:<12}: median {statistics.median(ts) * 1000:6.0f}"
              f" ms  (min {min(ts) * 1000:.0f}, max {max(ts) * 1000:.0f}, {len(ts)} runs)")
    ratio = statistics.median(a / b for a, b in zip(times["context"], times["DOCKER_HOST"],
                                                    strict=True))
    print(f"context / DOCKER_HOST, pair by pair: median {ratio:.3f}")
    refs = info["refs"]
    assert isinstance(refs, list)
    run(["docker", "rmi", "-f", *refs], {**os.environ, "DOCKER_HOST": laptop})
    shutil.rmtree(repo, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--laptop-host", required=True)
    ap.add_argument("--src", type=Path)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--only", default="a,b,c,d")
    ap.add_argument("--no-timing", action="store_true")
    a = ap.parse_args()
    code = a.src or ROOT
    print(f"buildorch from {code}; laptop engine {a.laptop_host}; other engine {DEFAULT_SOCKET}")
    print(f"{'':3}{'build':>6}{'2nd run built':>15}{'status stale':>14}{'in laptop':>11}"
          f"{'in other':>10}{'doctor':>8}")
    for name in a.only.split(","):
        r = scenario(name, a.laptop_host, a.src)
        print(f"({name}){r['build_rc']:>6}{r['second_run_built']:>15}{r['status_stale']:>14}"
              f"{r['in_laptop']:>9}/6{r['in_other']:>8}/6{r['doctor_rc']:>8}"
              + (f"   first error: {r['first_error'][:150]}" if r["first_error"] else ""))
        shutil.rmtree(str(r["repo"]), ignore_errors=True)
    if not a.no_timing:
        timing(a.laptop_host, a.src, a.runs)


if __name__ == "__main__":
    main()
