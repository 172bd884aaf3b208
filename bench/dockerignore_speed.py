"""How long DockerIgnore.filter takes on 50,000 paths and 20 patterns (target: well under 0.2 s).

Run: python bench/dockerignore_speed.py
"""

from __future__ import annotations

import random
import statistics
import time

from buildorch.dockerlang.dockerignore import DockerIgnore

IGNORE = """
# a monorepo's typical .dockerignore, with exceptions and every pattern kind
.git
**/__pycache__
**/*.pyc
*.md
!README.md
node_modules
**/node_modules
build/
dist
*.egg-info
.venv
**/.pytest_cache
docs/**
!docs/api/*.md
data/raw
data/**/*.parquet
!data/samples/*.parquet
**/tmp?
logs/*.log
models/[a-f]*/weights.bin
"""


def make_paths(count: int, seed: int = 7) -> list[str]:
    """A repository-shaped tree: about ten files per directory, up to six levels deep."""
    rng = random.Random(seed)
    tops = ["src", "services", "data", "docs", "models", "node_modules", "build", "tests", "libs"]
    names = ["a", "b", "core", "utils", "api", "samples", "raw", "tmp1", "__pycache__", "cache"]
    files = ["main.py", "x.pyc", "README.md", "b.parquet", "weights.bin", "index.js", "c.log"]
    dirs = list(tops)
    while len(dirs) < count // 10:
        parent = rng.choice(dirs)
        if parent.count("/") < 5:
            dirs.append(f"{parent}/{rng.choice(names)}{rng.randint(0, 9)}")
    return [f"{rng.choice(dirs)}/{rng.randint(0, 99)}{rng.choice(files)}" for _ in range(count)]


def main() -> None:
    paths = make_paths(50_000)
    times: list[float] = []
    kept: list[str] = []
    for _ in range(5):
        # A fresh matcher each run, so the per-directory cache starts empty as in real use.
        matcher = DockerIgnore.from_text(IGNORE)
        start = time.perf_counter()
        kept = matcher.filter(paths)
        times.append(time.perf_counter() - start)
    assert len(matcher.patterns) == 20
    print(
        f"{len(paths)} paths in {len({p.rsplit('/', 1)[0] for p in paths})} directories x "
        f"{len(matcher.patterns)} patterns: best {min(times) * 1000:.1f} ms, "
        f"median {statistics.median(times) * 1000:.1f} ms; {len(kept)} sent"
    )


if __name__ == "__main__":
    main()
