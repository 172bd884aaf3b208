"""A generated repository of versioned images, shaped like the one issue 18 measured: 250
Dockerfiles `dockerfiles/<name>_<version>.Dockerfile` in tiers, one bake file per version
`bakefiles/<version>.docker-bake.json` whose targets reuse the same names in every file, each
FROM naming a versioned tag of another image here (`FROM org/base:4.1.2`), some `:latest`
(carried by the newest version).

Prints: `buildorch init` time and the parent edges it found (against the edges the generator
made), and `buildorch plan` time with no change and after one edit to a base (with the number
of images it plans, against the number that build FROM that base).
Needs `docker buildx` (init reads bake files through `docker buildx bake --print`).
Usage: python bench/versioned_repo.py [--versions 10] [--runs 3] [--keep]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# per version: name -> parent name (None: FROM busybox); 25 images in 4 tiers
TIER1 = ["runtime", "python", "node", "tools"]
TIER2 = [f"{t}-{k}" for t in TIER1 for k in ("dev", "slim")]
SERVICES = [f"{t}-app{i}" for t in TIER2 for i in (1,)] + [f"svc{i}" for i in range(4)]
LAYOUT: dict[str, str | None] = {"base": None, **{t: "base" for t in TIER1},
                                 **{t: t.rsplit("-", 1)[0] for t in TIER2},
                                 **{s: s.rsplit("-", 1)[0] for s in SERVICES if "-app" in s},
                                 **{s: "runtime" for s in SERVICES if s.startswith("svc")}}
LATEST_CHILD = "svc0"    # in every version, FROM org/runtime:latest (the newest version's)


def generate(root: Path, versions: list[str]) -> set[tuple[str, str]]:
    """Write the repository; return the parent edges (parent image, child image) it holds."""
    newest = versions[-1]
    edges: set[tuple[str, str]] = set()
    for v in versions:
        targets: dict[str, object] = {}
        for name, parent in LAYOUT.items():
            image = f"{name}_{v}"
            tags = [f"org/{name}:{v}"] + ([f"org/{name}:latest"] if v == newest else [])
            targets[name] = {"context": ".", "dockerfile": f"dockerfiles/{image}.Dockerfile",
                             "tags": tags, "args": {"VERSION": v},
                             "labels": {"org.opencontainers.image.version": v}}
            if parent is None:
                src = "busybox:1.36"
            elif name == LATEST_CHILD:
                src = f"org/{parent}:latest"
                edges.add((f"{parent}_{newest}", image))
            else:
                src = f"org/{parent}:{v}"
                edges.add((f"{parent}_{v}", image))
            d = root / "dockerfiles" / f"{image}.Dockerfile"
            d.parent.mkdir(parents=True, exist_ok=True)
            d.write_text(f"FROM {src}\nARG VERSION\nCOPY src/{name}/ /opt/{name}/\n"
                         f"RUN echo $VERSION > /opt/{name}/version\n")
            s = root / "src" / name / "main.txt"
            s.parent.mkdir(parents=True, exist_ok=True)
            s.write_text(f"{name}\n")
        b = root / "bakefiles" / f"{v}.docker-bake.json"
        b.parent.mkdir(parents=True, exist_ok=True)
        b.write_text(json.dumps({"group": {"default": {"targets": list(targets)}},
                                 "target": targets}, indent=1))
    (root / ".dockerignore").write_text(".git\n.buildorch\n")
    return edges


def run(cmd: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    took = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return took, p


def descendants(edges: set[tuple[str, str]], start: str) -> set[str]:
    out = {start}
    grew = True
    while grew:
        new = {c for p, c in edges if p in out} - out
        out |= new
        grew = bool(new)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--versions", type=int, default=10, help="bake files (25 images each)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the repository; print its path")
    a = ap.parse_args()
    versions = [f"4.1.{i}" for i in range(a.versions)]
    tmp = Path(tempfile.mkdtemp(prefix="bo-versioned-"))
    bo = [sys.executable, "-m", "buildorch"]
    try:
        edges = generate(tmp, versions)
        subprocess.run(["git", "init", "-q"], cwd=tmp, check=True)
        subprocess.run(["git", "add", "-A"], cwd=tmp, check=True)
        subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@example.invalid",
                        "commit", "-qm", "generated"], cwd=tmp, check=True)
        n_images = len(versions) * len(LAYOUT)
        print(f"repository: {n_images} images, {len(versions)} bake files, {len(edges)} "
              f"parent edges made")
        init_s, _ = run([*bo, "init"], tmp)
        _, g = run([*bo, "graph", "--format", "json"], tmp)
        found = {(p, i["name"]) for i in json.loads(g.stdout)["images"] for p in i["parents"]}
        print(f"init: {init_s:.2f}s; edges found {len(found & edges)}/{len(edges)}"
              f" (wrong: {len(found - edges)})")
        subprocess.run(["git", "add", "-A"], cwd=tmp, check=True)
        subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@example.invalid",
                        "commit", "-qm", "init"], cwd=tmp, check=True)

        from buildorch.edges import state
        from buildorch.planning.baseline import open_config, work_snapshot

        cfg = open_config(tmp / "services.toml")
        state.record_many(cfg.state_dir, {n: (r, None) for n, r in
                                          work_snapshot(cfg).records.items()})
        times = []
        for _ in range(a.runs):
            took, p = run([*bo, "plan"], tmp)
            times.append(took)
        print(f"plan, no change: median {statistics.median(times):.3f}s of {a.runs} "
              f"({p.stdout.strip().splitlines()[0]})")
        # a middle version's base, then the newest's (it carries `latest`: every version's
        # svc0 builds FROM org/runtime:latest)
        for base in (f"base_{versions[len(versions) // 2]}", f"runtime_{versions[-1]}"):
            df = tmp / "dockerfiles" / f"{base}.Dockerfile"
            before = df.read_text()
            df.write_text(before + "RUN echo edited\n")
            want = descendants(edges, base)
            times = []
            for _ in range(a.runs):
                took, p = run([*bo, "plan", "--json"], tmp)
                times.append(took)
            stale = {s["name"] for s in json.loads(p.stdout)["stale"]}
            print(f"plan, one base edited ({base}): median {statistics.median(times):.3f}s "
                  f"of {a.runs}; {len(stale)} stale, expected {len(want)}"
                  f"{'' if stale == want else ' MISMATCH: ' + str(sorted(stale ^ want))}")
            df.write_text(before)
    finally:
        if a.keep:
            print(f"kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
