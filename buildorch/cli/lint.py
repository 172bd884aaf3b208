"""`buildorch lint`: Dockerfile cache hygiene for every Dockerfile in services.toml."""

from __future__ import annotations

import json

import click

from buildorch.cli import config_of
from buildorch.errors import EXIT_ERROR
from buildorch.ops.lint import lint_config


@click.command("lint")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"findings": [{file, line, rule, message}]}.')
@click.pass_context
def command(ctx: click.Context, as_json: bool) -> None:
    """Dockerfile cache hygiene: missing cache mounts, disabled pip caches, COPY before
    installs, split apt-get update, unpinned base images. Exit 1 on findings."""
    cfg = config_of(ctx)
    found = lint_config(cfg)
    files = len({i.dockerfile for i in cfg.images.values()})
    if as_json:
        click.echo(json.dumps({"findings": [f.to_json() for f in found]}, indent=2))
    else:
        for f in found:
            click.echo(str(f))
        click.echo(f"{len(found)} finding(s) in {files} Dockerfile(s)")
    if found:
        raise click.exceptions.Exit(EXIT_ERROR)
