"""`buildorch lint`: Dockerfile cache hygiene for every Dockerfile in services.toml."""

from __future__ import annotations

import json
import posixpath

import click

from buildorch import project
from buildorch.config import Config
from buildorch.errors import EXIT_ERROR, BuildorchError
from buildorch.ops.lint import Finding, Source, lint


def findings(cfg: Config) -> list[Finding]:
    """Findings over every configured Dockerfile; one Dockerfile shared by several images is
    linted once per distinct set of build args (they can change its FROM lines)."""
    built_here = [cfg.repository(n) for n in cfg.images]
    seen: dict[tuple[str, int, str, str], Finding] = {}
    for image in sorted(cfg.images.values(), key=lambda i: i.dockerfile):
        path = cfg.root / image.dockerfile
        try:
            text = path.read_bytes().decode("utf-8", "replace")
        except OSError as exc:
            raise BuildorchError(f"{image.table}: cannot read {image.dockerfile}: "
                                 f"{exc.strerror}; fix the path") from None
        folder = posixpath.dirname(image.dockerfile) or "."
        service_dir = (folder if image.context == "." else
                       posixpath.relpath(folder, image.context))
        src = Source(image.dockerfile, text, built_here, dict(image.args),
                     None if service_dir.startswith("..") else service_dir)
        for f in lint(src):
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
