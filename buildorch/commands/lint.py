"""`buildorch lint`: Dockerfile cache hygiene for every Dockerfile in services.toml."""

from __future__ import annotations

import json
import posixpath

import click

from buildorch.config import Config
from buildorch.errors import EXIT_ERROR, BuildorchError
from buildorch.ops.lint import Finding, Source, check
from buildorch.planning import baseline as project


def _order(cfg: Config) -> list[str]:
    """Parents first, so a child knows whether its parent disables the pip cache; by name
    when the graph cannot be made (lint still reports what it can)."""
    try:
        return project.work_snapshot(cfg).graph.order()
    except BuildorchError:
        return sorted(cfg.images)


def findings(cfg: Config) -> list[Finding]:
    """Findings over every configured Dockerfile; one Dockerfile shared by several images is
    linted once per image (args and target can change what it does), findings deduplicated."""
    built_here = [cfg.repository(n) for n in cfg.images]
    no_cache: dict[str, str] = {}     # repository -> where its image sets PIP_NO_CACHE_DIR
    seen: dict[tuple[str, int, str, str], Finding] = {}
    for name in _order(cfg):
        image = cfg.images[name]
        path = cfg.root / image.dockerfile
        try:
            text = path.read_bytes().decode("utf-8", "replace")
        except OSError as exc:
            raise BuildorchError(f"{image.table}: cannot read {image.dockerfile}: "
                                 f"{exc.strerror}; fix the path") from None
        folder = posixpath.dirname(image.dockerfile) or "."
        service_dir = (folder if image.context == "." else
                       posixpath.relpath(folder, image.context))
        report = check(Source(image.dockerfile, text, built_here, dict(image.args),
                              None if service_dir.startswith("..") else service_dir,
                              image.target, no_cache))
        if report.no_cache_dir is not None:
            where = report.no_cache_dir
            if where.startswith("ENV at line "):
                where = f"set by parent image {name} in {image.dockerfile}:{where[12:]}"
            no_cache[cfg.repository(name)] = where
        for f in report.findings:
            seen.setdefault((f.file, f.line, f.rule, f.message), f)
    return sorted(seen.values(), key=lambda f: (f.file, f.line, f.rule))


@click.command("lint")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"findings": [{file, line, rule, message}]}.')
@click.pass_context
def command(ctx: click.Context, as_json: bool) -> None:
    """Dockerfile cache hygiene: missing cache mounts, disabled pip caches, COPY before
    installs, split apt-get update, unpinned base images. Exit 1 on findings."""
    cfg = project.open_config(ctx.find_root().obj)
    found = findings(cfg)
    files = len({i.dockerfile for i in cfg.images.values()})
    if as_json:
        click.echo(json.dumps({"findings": [f.to_json() for f in found]}, indent=2))
    else:
        for f in found:
            click.echo(str(f))
        click.echo(f"{len(found)} finding(s) in {files} Dockerfile(s)")
    if found:
        raise click.exceptions.Exit(EXIT_ERROR)
