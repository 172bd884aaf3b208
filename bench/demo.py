"""The demo stack copied into a temporary git repository under its own image namespace: the one
fixture of the benchmarks (imported by them; not a benchmark itself)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REG = "127.0.0.1:5000"
GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]

# The small graph: a foundation, three tier-1 bases and two services (discord on python-audio,
# linter on tools).
SMALL = ("python-base", "python-audio", "python-ml", "tools", "discord", "linter")


def keep_only(toml: str, names: tuple[str, ...]) -> str:
    """services.toml without the image tables of images not in `names`."""
    out: list[str] = []
    keep = True
    for line in toml.splitlines(keepends=True):
        m = re.match(r"\[(base|services)\.([^\]]+)\]", line)
        if m:
            keep = m.group(2) in names
        elif line.startswith("["):
            keep = True
        if keep:
            out.append(line)
    return "".join(out)


def demo_repo(tmp: Path, ns: str, *, only: tuple[str, ...] = (), fresh: bool = False) -> Path:
    """The demo stack at `tmp/demo-…`, its images named `REG/bench-NS/NAME`. `only`: keep just
    those images. `fresh`: a root step of its own, so the engine's cache of earlier runs does
    not serve this one."""
    repo = tmp / f"demo-{ns}"
    repo.mkdir(parents=True)
    for rel in (".dockerignore", "services.toml"):
        shutil.copy(ROOT / rel, repo / rel)
    for d in ("Dockerfiles", "services", "requirements"):
        shutil.copytree(ROOT / d, repo / d)
    for f in [repo / "services.toml", *(repo / "services").rglob("*"),
              *(repo / "Dockerfiles").rglob("*")]:
        if f.is_file() and f.suffix in ("", ".toml", ".Dockerfile"):
            f.write_text(f.read_text().replace(f"{REG}/demo", f"{REG}/bench-{ns}"))
    if only:
        toml = repo / "services.toml"
        toml.write_text(keep_only(toml.read_text(), only))
    if fresh:
        base = repo / "Dockerfiles" / "python-base.Dockerfile"
        base.write_text(base.read_text() + f"\nRUN echo {ns} > /bench-ns\n")
    (repo / ".gitignore").write_text(".buildorch/\ndocker-bake.json\n")
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*GIT, "commit", "-qm", "demo"], cwd=repo, check=True)
    return repo


def remove_images(prefix: str) -> None:
    """Remove the images whose name starts with `prefix` (the benchmark's own), nothing else."""
    out = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"],
                         capture_output=True, text=True).stdout.split()
    tags = [t for t in out if t.startswith(prefix)]
    if tags:
        subprocess.run(["docker", "rmi", "-f", *tags], capture_output=True)
