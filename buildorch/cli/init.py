"""`buildorch init --from-compose FILE`: write a services.toml from a compose file."""

from __future__ import annotations

import os
from pathlib import Path

import click

from buildorch import config as config_mod
from buildorch.edges.state import atomic_write
from buildorch.errors import BuildorchError, ConfigError
from buildorch.ops.compose import import_compose


@click.command("init")
@click.option("--from-compose", "compose", required=True,
              type=click.Path(path_type=Path, dir_okay=False),
              help="The compose file whose build: sections to import.")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              default=Path(config_mod.CONFIG_NAME), show_default=True)
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
def command(compose: Path, output: Path, force: bool) -> None:
    """Write services.toml from a compose file: images from build: sections, parents from
    the Dockerfiles' FROM lines, tiers by depth."""
    compose, output = compose.absolute(), output.absolute()
    if output.exists() and not force:
        raise BuildorchError(f"{output} already exists; pass --force to overwrite it "
                             "(or --output OTHER.toml)")
    try:
        text = compose.read_text(encoding="utf-8")
    except OSError as exc:
        raise BuildorchError(f"cannot read {compose}: {exc.strerror}") from None
    base = compose.parent

    def read(rel: str) -> str | None:
        try:
            return (base / rel).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    output_dir = Path(os.path.relpath(output.parent, base)).as_posix()
    result = import_compose(text, compose_name=compose.name, output_dir=output_dir, read=read)
    try:
        config_mod.parse(result.text, output)
    except ConfigError as exc:
        raise BuildorchError(f"the services.toml made from {compose.name} would not load "
                             f"({exc.problems[0]}); fix the compose file") from None
    atomic_write(output, result.text.encode())
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    bases = [i for i in result.images if i.tier != "services"]
    click.echo(f"wrote {output.name}: {len(result.images)} image(s), {len(bases)} base "
               f"image(s), from {compose.name}")
    for i in result.images:
        parents = f" <- {', '.join(i.parents)}" if i.parents else ""
        click.echo(f"  {i.name:<24} {i.tier:<12}{parents}".rstrip())
