"""The demo stack on the containerd image store and on the classic one, side by side.

For each engine (the main one, and DOCKER_HOST=… of a classic-store engine, e.g. from
`python -m tests.engines up NAME classic`): a fresh copy of the demo stack under its own
image namespace (a fresh first step, so no earlier build cache serves it), then
`buildorch build` three times: full build, no change, one service changed. Prints wall times and
what each run did (built / up to date), which must be the same on both stores.
Usage: python bench/stores_compare.py --classic-host unix:///run/bo-…/docker.sock [--service stt]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from demo import GIT, REG, demo_repo


def bo(repo: Path, env: dict[str, str]) -> tuple[float, str, list[str]]:
    t = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "buildorch", "build", "--progress", "plain"],
                       cwd=repo, capture_output=True, text=True, env=env)
    took = time.monotonic() - t
    if p.returncode != 0:
        sys.exit(f"buildorch build failed in {repo}:\n{p.stdout[-3000:]}\n{p.stderr}")
    last = p.stdout.strip().splitlines()[-1]
    outcome = re.sub(r" in [0-9.]+s$", "", last)
    return took, outcome, [x for x in p.stderr.splitlines() if x.startswith("note:")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classic-host", required=True)
    ap.add_argument("--service", default="stt")
    a = ap.parse_args()
    engines = {"containerd store (main engine)": {k: v for k, v in os.environ.items()
                                                    if k != "DOCKER_HOST"},
               "classic store": {**os.environ, "DOCKER_HOST": a.classic_host}}
    run_id = uuid.uuid4().hex[:6]
    tmp = Path(tempfile.mkdtemp(prefix="bo-bench-stores-"))
    results: dict[str, list[tuple[str, float, str]]] = {}
    try:
        for label, env in engines.items():
            repo = demo_repo(tmp, f"{run_id}-{len(results)}", fresh=True)
            rows = results[label] = []
            took, outcome, notes = bo(repo, env)
            rows.append(("full build", took, outcome))
            took, outcome, _ = bo(repo, env)
            rows.append(("no change", took, outcome))
            app = repo / "services" / a.service / "app.py"
            app.write_text(app.read_text() + f"# bench {run_id}\n")
            subprocess.run([*GIT, "commit", "-qam", "one service"], cwd=repo, check=True)
            took, outcome, _ = bo(repo, env)
            rows.append((f"{a.service} changed", took, outcome))
            for n in notes:
                print(f"[{label}] {n}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        for env in engines.values():
            out = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"],
                                 capture_output=True, text=True, env=env).stdout.split()
            tags = [t for t in out if t.startswith(f"{REG}/bench-{run_id}-")]
            if tags:
                subprocess.run(["docker", "rmi", "-f", *tags], capture_output=True, env=env)
    labels = list(results)
    print(f"{'run':<14}" + "".join(f"  {lb:>34}" for lb in labels))
    for i, (what, _, _) in enumerate(results[labels[0]]):
        print(f"{what:<14}" + "".join(f"  {results[lb][i][1]:>33.1f}s" for lb in labels))
    for i, (what, _, _) in enumerate(results[labels[0]]):
        outs = {results[lb][i][2] for lb in labels}
        print(f"{what}: {' | '.join(outs)}{'' if len(outs) == 1 else '  <- DIFFERENT'}")


if __name__ == "__main__":
    main()
