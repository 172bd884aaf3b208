"""How fast is `buildorch plan` on a big monorepo? Whole process, median of several runs.

Generates a synthetic repository (200 images in 4 tiers, 50,000 files, one commit), records a
manifest for it (as a good build would), then times:
  - a no-change `buildorch plan` (after one plan, as in daily use) against `git status
    --porcelain` on the same tree (target: within 1.5x),
  - a plan after editing one file one service reads (a new edit before every run) against
    `git status` (target: within 2x),
  - a no-change `buildorch plan --since HEAD`.
All interleaved, medians printed with the ratios. `--before /work/main` times that
checkout's buildorch in the same loop, in a copy of the repository: each version keeps its own
input cache (a cache written by other code is never trusted, so sharing one would make both
read everything every run).

Usage: python bench/plan_scale.py [--images 200] [--files 50000] [--runs 7] [--keep DIR]
                                  [--before CHECKOUT]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TIERS = ("foundation", "tier-1", "tier-2", "services")


def git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.invalid",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.invalid"}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def generate(repo: Path, n_images: int, n_files: int) -> list[str]:
    counts = [max(1, n_images // 100), n_images // 10, n_images // 5]
    counts.append(n_images - sum(counts))
    names: list[tuple[str, str, str | None]] = []   # name, tier, parent
    for t, (tier, count) in enumerate(zip(TIERS, counts, strict=True)):
        prev = [n for n, tr, _ in names if tr == TIERS[t - 1]] if t else []
        for i in range(count):
            names.append((f"{tier}-{i:03d}", tier, prev[i % len(prev)] if prev else None))
    services = [n for n, tier, _ in names if tier == "services"]
    per = max(1, (n_files - 3 * len(names)) // len(services))
    toml = ['[project]\nregistry = "bench.local/mono"\njobs = 2\n']
    toml += [f'[tiers.{t}]\nmax_parallel = 2\n' for t in TIERS]
    for name, tier, parent in names:
        section = "services" if tier == "services" else "base"
        d = repo / ("services" if section == "services" else "images") / name
        d.mkdir(parents=True)
        base = f"bench.local/mono/{parent}:latest" if parent else "busybox:1.36"
        lines = [f"FROM {base}", f"COPY {d.relative_to(repo).as_posix()}/requirements.txt "
                 "/req.txt", "RUN --mount=type=cache,id=pip,target=/root/.cache/pip true"]
        (d / "requirements.txt").write_text(f"# {name}\n")
        if section == "services":
            src = d / "src"
            for k in range(per):
                sub = src / f"pkg{k % 20}"
                sub.mkdir(parents=True, exist_ok=True)
                (sub / f"mod{k}.py").write_text(f"X = {k}\n")
            lines.append(f"COPY {d.relative_to(repo).as_posix()}/src/ /app/")
        (d / "Dockerfile").write_text("\n".join(lines) + "\n")
        toml.append(f'[{section}.{name}]\ntier = "{tier}"\n'
                    f'dockerfile = "{d.relative_to(repo).as_posix()}/Dockerfile"\n')
    (repo / "services.toml").write_text("\n".join(toml))
    (repo / ".dockerignore").write_text(".git\n.buildorch\n**/__pycache__\n*.md\n")
    (repo / ".gitignore").write_text(".buildorch/\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "synthetic monorepo")
    git(repo, "gc", "-q")   # packed, as a clone is: not 200,000 loose objects
    return services


def record_manifest(repo: Path) -> None:
    """What a good build leaves behind: every image in the manifest."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from buildorch.edges import state
    from buildorch.planning.baseline import open_config, work_snapshot

    cfg = open_config(repo / "services.toml")
    snap = work_snapshot(cfg)
    state.record_many(cfg.state_dir, {n: (r, None) for n, r in snap.records.items()})


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, str]:
    t = time.perf_counter()
    p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env)
    took = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"{argv} failed: {p.stderr}")
    return took, p.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--files", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--keep", type=Path, help="generate here (or reuse what is there)")
    ap.add_argument("--before", type=Path, metavar="CHECKOUT",
                    help="also time another checkout's buildorch (e.g. main), interleaved")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bo-bench-"))
    repo = a.keep or tmp / "repo"
    try:
        t = time.perf_counter()
        if (repo / "services.toml").exists():
            services = sorted(p.name for p in (repo / "services").iterdir())
        else:
            services = generate(repo, a.images, a.files)
        n_files = sum(1 for _ in repo.rglob("*") if ".git" not in _.parts and _.is_file())
        print(f"{a.images} images, {n_files} files ready in {time.perf_counter() - t:.1f}s")
        victim_rel = next((repo / "services" / services[0] / "src").rglob("*.py")
                          ).relative_to(repo)
        original = (repo / victim_rel).read_text()
        record_manifest(repo)
        where = {"git": repo, "after": repo}
        if a.before:
            where["before"] = tmp / "repo-before"
            shutil.rmtree(where["before"], ignore_errors=True)
            subprocess.run(["cp", "-a", str(repo), str(where["before"])], check=True)
            # the copy's index holds the original's stat data: settle it once
            subprocess.run(["git", "status", "--porcelain"], cwd=where["before"], check=True,
                           capture_output=True)
        # As installed: bytecode compiled once (PYTHONDONTWRITEBYTECODE would make every run
        # compile buildorch again), kept in a temporary folder, never in a checkout.
        base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        base["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        tools: dict[str, tuple[list[str], dict[str, str] | None]] = {
            "after": ([sys.executable, "-m", "buildorch"], base)}
        if a.before:
            env = {**base, "PYTHONPATH": str(a.before.resolve())}
            tools["before"] = ([sys.executable, "-m", "buildorch"], env)
        git_status = ["git", "status", "--porcelain"]
        for who, (argv, env) in tools.items():   # one plan each first: as a previous plan leaves
            run([*argv, "plan"], where[who], env)
        nochange: dict[str, list[float]] = {"git": [], **{k: [] for k in tools}}
        onefile: dict[str, list[float]] = {"git": [], **{k: [] for k in tools}}
        since: list[float] = []
        order = ["git", *tools]
        for i in range(a.runs):
            # interleaved, the order turning each run: this machine is shared and noisy
            turn = order[i % len(order):] + order[:i % len(order)]
            for who in turn:
                if who == "git":
                    nochange["git"].append(run(git_status, repo)[0])
                    continue
                argv, env = tools[who]
                took, out = run([*argv, "plan"], where[who], env)
                assert "nothing to build" in out, out
                nochange[who].append(took)
            took, out = run([*tools["after"][0], "plan", "--since", "HEAD"], repo, base)
            assert "nothing to build" in out, out
            since.append(took)
        for i in range(a.runs):
            turn = order[i % len(order):] + order[:i % len(order)]
            for who in turn:
                # a new edit before every run: each plan sees a change it has not seen
                (where[who] / victim_rel).write_text(f"X = 'changed {i} {who}'\n")
                if who == "git":
                    onefile["git"].append(run(git_status, repo)[0])
                    continue
                argv, env = tools[who]
                took, out = run([*argv, "plan", "--json"], where[who], env)
                assert f'"name": "{services[0]}"' in out and out.count('"name"') == 1, out
                onefile[who].append(took)
        (repo / victim_rel).write_text(original)
        m = statistics.median
        g1, g2 = m(nochange["git"]), m(onefile["git"])
        print(f"medians of {a.runs} interleaved runs; `git status --porcelain`: "
              f"{g1:.3f} s (no change), {g2:.3f} s (one file)")
        for who in tools:
            n, o = m(nochange[who]), m(onefile[who])
            print(f"{who:6} no-change plan {n:.3f} s = {n / g1:.2f}x git status (target <= 1.5x)"
                  f"   one-file plan {o:.3f} s = {o / g2:.2f}x (target <= 2x)")
        print(f"after  no-change plan --since HEAD {m(since):.3f} s")
    finally:   # with --keep the repository is elsewhere: only the copy and bytecode go
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
