"""`buildorch ci workflow`: the seed's Docker CI, generated from the tier graph.

The seed keeps ~300 lines of hand-written workflow YAML: a job per tier, matrices,
`max-parallel`, job and step timeouts, `if: ${{ !cancelled() }}`, cleanup and emergency cleanup,
cache scopes. Here they come from services.toml: one planning job runs `buildorch ci matrix
--tier` and exposes one output per tier; one job per tier (in tier order, after every earlier
one) builds that tier's stale images, a matrix entry each. Pure: the text is a function of the
config and the options, byte for byte (no dates, sorted nothing that has an order).
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Any

import yaml

from buildorch.config import Config, Tier
from buildorch.errors import BuildorchError
from buildorch.ops.ci import tier_output

DEFAULT_PATH = ".github/workflows/docker.yml"
SETUP_MINUTES = 5
CLEANUP_MINUTES = 2
EMERGENCY_MINUTES = 1
_JOB_ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
ZERO_SHA = "0" * 40


@dataclass(frozen=True)
class WorkflowOptions:
    path: str = DEFAULT_PATH          # where the file lives, relative to the repository root
    install: str = ""                 # pip requirement that installs buildorch ("" = this one)
    runs_on: str = "ubuntu-latest"
    python: str = "3.11"
    branch: str = "main"


def _minutes(seconds: float) -> int:
    return max(1, math.ceil(seconds / 60))


def job_id(tier: str) -> str:
    jid = "build-" + re.sub(r"[^A-Za-z0-9_-]+", "-", tier).strip("-")
    if not _JOB_ID_RE.match(jid):
        raise BuildorchError(f"[tiers.{tier}]: cannot make a GitHub job id from the tier name; "
                             "use letters, digits, '-' and '_'")
    return jid


def _registry_host(registry: str | None) -> str | None:
    """The host part of `registry` ("ghcr.io/acme" -> "ghcr.io"); None for Docker Hub."""
    if not registry:
        return None
    first = registry.split("/", 1)[0]
    if "." in first or ":" in first or first == "localhost":
        return first
    return None


def _loopback(host: str) -> bool:
    return host.split(":")[0] in ("127.0.0.1", "localhost", "::1")


def tier_order(cfg: Config) -> list[str]:
    """Tiers that hold images, in services.toml order; every parent's tier must come before
    its child's (a tier's images build side by side in CI, so no edge may stay inside one)."""
    from buildorch.planning.baseline import work_snapshot

    tiers = [t for t in cfg.tiers if any(i.tier == t for i in cfg.images.values())]
    rank = {t: i for i, t in enumerate(tiers)}
    graph = work_snapshot(cfg).graph
    for name in graph.order():
        tier = cfg.images[name].tier
        for parent in graph.parents(name):
            ptier = cfg.images[parent].tier
            if rank[ptier] >= rank[tier]:
                where = ("both in" if ptier == tier else f"in {ptier!r}, which comes after")
                raise BuildorchError(
                    f"{cfg.images[name].table}: its parent {parent} is {where} tier {tier!r}: "
                    "CI builds a tier's images side by side after the earlier tiers; move one "
                    "of them to another tier (tiers run in services.toml order)")
    return tiers


def _install_step(opts: WorkflowOptions, version: str) -> dict[str, Any]:
    spec = opts.install or f"buildorch=={version}"
    return {"name": "Install buildorch", "timeout-minutes": SETUP_MINUTES,
            "run": f"python -m pip install '{spec}'"}


def _setup_python(opts: WorkflowOptions) -> dict[str, Any]:
    return {"uses": "actions/setup-python@v5", "with": {"python-version": opts.python}}


def _plan_job(cfg: Config, tiers: list[str], opts: WorkflowOptions,
              version: str) -> dict[str, Any]:
    script = "\n".join([
        "# Compare with the commit before the push (or the PR's base); with none (a new",
        "# branch, a manual run), every image counts as stale.",
        f'if [ -n "$BASE" ] && [ "$BASE" != "{ZERO_SHA}" ] && '
        'git cat-file -e "$BASE^{commit}" 2>/dev/null; then',
        '  buildorch ci matrix --tier --since "$BASE"',
        "else",
        "  buildorch ci matrix --tier",
        "fi",
    ]) + "\n"
    return {
        "name": "Plan: stale images per tier",
        "runs-on": opts.runs_on,
        "timeout-minutes": 10,
        "outputs": {tier_output(t): f"${{{{ steps.plan.outputs.{tier_output(t)} }}}}"
                    for t in tiers},
        "steps": [
            {"uses": "actions/checkout@v4", "with": {"fetch-depth": 0}},
            _setup_python(opts),
            _install_step(opts, version),
            {"id": "plan", "name": "buildorch ci matrix --tier", "run": script,
             "env": {"BASE": "${{ github.event.pull_request.base.sha || github.event.before }}"}},
        ],
    }


def _tier_job(cfg: Config, tier: Tier, earlier: list[str], opts: WorkflowOptions,
              version: str) -> dict[str, Any]:
    out = tier_output(tier.name)
    matrix = f"needs.plan.outputs.{out}"
    cond = ("${{ !cancelled() && needs.plan.result == 'success' && "
            "!contains(needs.*.result, 'failure') && !contains(needs.*.result, 'cancelled') && "
            f"{matrix} != '' && fromJSON({matrix}).include[0] != null }}}}")
    strategy: dict[str, Any] = {"fail-fast": False}
    if tier.max_parallel:
        strategy["max-parallel"] = tier.max_parallel
    strategy["matrix"] = f"${{{{ fromJSON({matrix}) }}}}"
    host = _registry_host(cfg.registry)
    steps: list[dict[str, Any]] = [
        {"uses": "actions/checkout@v4"},
        {"name": "Set up buildx", "uses": "docker/setup-buildx-action@v3"},
    ]
    if host and not _loopback(host):
        if host == "ghcr.io":
            creds = {"username": "${{ github.actor }}", "password": "${{ secrets.GITHUB_TOKEN }}"}
        else:
            creds = {"username": "${{ secrets.REGISTRY_USERNAME }}",
                     "password": "${{ secrets.REGISTRY_PASSWORD }}"}
        steps.append({"name": f"Log in to {host}", "uses": "docker/login-action@v3",
                      "with": {"registry": host, **creds}})
    steps += [
        # `type=gha` caches need the runtime token, which `run:` steps do not see otherwise.
        {"name": "Expose the GitHub Actions cache to buildx",
         "uses": "crazy-max/ghaction-github-runtime@v3"},
        _setup_python(opts),
        _install_step(opts, version),
        {"name": "Build ${{ matrix.name }} as ${{ join(matrix.tags, ', ') }}",
         "timeout-minutes": _minutes(tier.timeout),
         "run": 'buildorch build "${{ matrix.name }}" --no-deps --push --no-smoke '
                "--cache-to registry --cache-to gha --progress plain"},
        {"name": "Smoke check ${{ matrix.name }}",
         "timeout-minutes": _minutes(tier.smoke_timeout) + 1,
         "run": 'buildorch smoke "${{ matrix.name }}"'},
    ]
    if tier.cleanup != "none":
        steps.append({"name": f"Clean up ({tier.cleanup})", "if": "${{ !cancelled() }}",
                      "timeout-minutes": CLEANUP_MINUTES,
                      "run": f"buildorch clean --policy {tier.cleanup} || true"})
    steps.append({"name": "Emergency cleanup on cancellation", "if": "${{ cancelled() }}",
                  "timeout-minutes": EMERGENCY_MINUTES,
                  "run": "buildorch clean --policy emergency || true"})
    return {
        "name": f"Build {tier.name}: ${{{{ matrix.name }}}}",
        "needs": ["plan", *(job_id(t) for t in earlier)],
        "if": cond,
        "runs-on": opts.runs_on,
        "timeout-minutes": _minutes(tier.timeout),
        "strategy": strategy,
        "steps": steps,
    }


class _Dumper(yaml.SafeDumper):
    """SafeDumper that writes multi-line strings as literal blocks (readable shell)."""


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def _dump(data: dict[str, Any], indent: str = "") -> str:
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     width=10_000, allow_unicode=True)
    return "".join(indent + line if line.strip() else line
                   for line in text.splitlines(keepends=True))


def _comment(text: str, indent: str = "") -> str:
    return "".join(f"{indent}# {line}".rstrip() + "\n" for line in text.splitlines())


def regenerate_command(cfg: Config, opts: WorkflowOptions) -> str:
    rel = cfg.path.relative_to(cfg.root).as_posix()
    cmd = "buildorch"
    if rel != "services.toml":
        cmd += f" --config {rel}"
    cmd += " ci workflow"
    if opts.path != DEFAULT_PATH:
        cmd += f" -o {opts.path}"
    if opts.install:
        cmd += f" --install '{opts.install}'"
    return cmd


def render(cfg: Config, opts: WorkflowOptions, version: str) -> str:
    """The workflow's text: deterministic, commented."""
    tiers = tier_order(cfg)
    rel = cfg.path.relative_to(cfg.root).as_posix()
    regen = regenerate_command(cfg, opts)
    parts = [_comment(
        f"Generated by `buildorch ci workflow` from {rel}: do not edit by hand.\n"
        f"Regenerate with:  {regen}\n"
        f"Checked by:       {regen} --check   (pre-commit hook id: buildorch-ci-workflow)\n"
        "\n"
        "A planning job asks buildorch which images are stale and groups them by tier; then\n"
        "one job per tier, in tier order, builds that tier's stale images (a matrix entry\n"
        "each, pushed to the registry, where the next tier's builds find them) and smoke-\n"
        "checks them. A tier with nothing stale is skipped; a failure stops the later tiers.\n"
        "Each build step adds its table to the run's step summary ($GITHUB_STEP_SUMMARY).")]
    host = _registry_host(cfg.registry)
    if host and _loopback(host):
        parts.append(_comment(
            f"Note: the registry {host} is a loopback one: jobs run on separate runners and\n"
            "cannot share it; use a registry every runner reaches (e.g. ghcr.io/OWNER)."))
    head: dict[str, Any] = {
        "name": "docker",
        "on": {"push": {"branches": [opts.branch]}, "pull_request": None,
               "workflow_dispatch": None},
    }
    parts.append(_dump(head))
    parts.append(_comment("A newer push to the same ref cancels this run (emergency cleanup "
                          "then runs in each job)."))
    parts.append(_dump({"concurrency": {"group": "${{ github.workflow }}-${{ github.ref }}",
                                        "cancel-in-progress": True}}))
    parts.append(_dump({"permissions": {"contents": "read", "packages": "write"}}))
    if rel != "services.toml":
        parts.append(_dump({"env": {"BUILDORCH_CONFIG": rel}}))
    parts.append("jobs:\n")
    version_ = version
    parts.append(_comment(
        "What is stale, per tier: one output per tier, each {\"include\": [images…]}.", "  "))
    parts.append(_dump({"plan": _plan_job(cfg, tiers, opts, version_)}, "  "))
    for i, name in enumerate(tiers):
        tier = cfg.tiers[name]
        images = [n for n, img in cfg.images.items() if img.tier == name]
        limits = [f"timeout {_minutes(tier.timeout)} min"]
        if tier.max_parallel:
            limits.append(f"at most {tier.max_parallel} at once")
        if tier.cleanup != "none":
            limits.append(f"cleanup {tier.cleanup}")
        parts.append("\n" + _comment(
            f"Tier {name}: {', '.join(images)}\n"
            f"({'; '.join(limits)}; skipped when none of them is stale)", "  "))
        parts.append(_dump({job_id(name): _tier_job(cfg, tier, tiers[:i], opts, version_)},
                           "  "))
    return "".join(p if p.endswith("\n") else p + "\n" for p in parts)


def diff(current: str, wanted: str, path: str) -> str:
    return "".join(difflib.unified_diff(
        current.splitlines(keepends=True), wanted.splitlines(keepends=True),
        fromfile=f"{path} (on disk)", tofile=f"{path} (generated)"))
