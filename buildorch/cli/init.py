"""`buildorch init`: write a services.toml for the repository, discovered (ops/init.py)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import click

from buildorch import config as config_mod
from buildorch.errors import BuildorchError, ConfigError


@click.command("init")
@click.option("--from-compose", "compose", multiple=True,
              type=click.Path(path_type=Path, dir_okay=False),
              help="Read this compose file (repeat for overrides, in order) instead of the "
                   "compose files found; place its images and what they build FROM.")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              default=Path(config_mod.CONFIG_NAME), show_default=True)
@click.option("--bake-dir", "bake_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Where `docker buildx bake` is run (bake contexts resolve from there); "
                   "default the repository root.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("--dry-run", is_flag=True, help="Print the file instead of writing it.")
@click.option("--schema", "schema_ref", metavar="PATH-OR-URL",
              help="Start the file with `#:schema PATH-OR-URL`, so editors that read Taplo's "
                   "directive check and complete it (`buildorch schema --output` writes one).")
def command(compose: tuple[Path, ...], output: Path, bake_dir: Path | None, force: bool,
            dry_run: bool, schema_ref: str | None) -> None:
    """Write services.toml from what the repository holds: every Dockerfile, compose file
    and bake file; names, registry, contexts, tiers by depth. Non-interactive."""
    from buildorch.edges.state import atomic_write
    from buildorch.ops.init import init_repository

    output = output.absolute()
    if output.exists() and not force and not dry_run:
        raise BuildorchError(f"{output} already exists; pass --force to overwrite it "
                             "(or --output OTHER.toml, or --dry-run to see it)")
    root = config_mod.find_root(Path.cwd().absolute())
    if not output.parent.resolve().is_relative_to(root.resolve()):
        raise BuildorchError(f"{output} is outside the repository {root}; write services.toml "
                             "inside it (its paths are relative to it)")
    result = init_repository(root, output, [c.absolute() for c in compose],
                             dict(os.environ), bake_dir.absolute() if bake_dir else None)
    if schema_ref:
        result = replace(result, text=f"#:schema {schema_ref}\n{result.text}")
    if not result.discovery.entries:
        unplaced = len(result.discovery.unplaced)
        raise BuildorchError(f"found no Dockerfile to place in {root}"
                             + (f" ({unplaced} not placed; see --dry-run)" if unplaced else "")
                             + "; write services.toml by hand: [services.NAME] with "
                             + 'dockerfile = "PATH"')
    try:
        config_mod.parse(result.text, output, root)
    except ConfigError as exc:
        raise BuildorchError(f"the services.toml init made would not load ({exc.problems[0]})"
                             "; please report it, and write the file by hand meanwhile"
                             ) from None
    for n in result.notes:
        click.echo(f"note: {n}", err=True)
    if dry_run:
        click.echo(result.text, nl=False)
        return
    atomic_write(output, result.text.encode())
    d = result.discovery
    bases = [e for e in d.entries if e.tier != "services"]
    click.echo(f"wrote {os.path.relpath(output)}: {len(d.entries)} image(s), {len(bases)} "
               f"base image(s), registry {d.registry or 'none'}, from "
               f"{', '.join(result.sources)}")
    width = max((len(e.name) for e in d.entries), default=0)
    fwidth = max((len(e.dockerfile) for e in d.entries), default=0)
    twidth = max((len(e.tier) for e in d.entries), default=0)
    for e in sorted(d.entries, key=lambda e: (config_mod.tier_rank(e.tier), e.name)):
        parents = f"FROM {', '.join(e.parents)}" if e.parents else ""
        click.echo(f"  {e.name:<{width}}  {e.tier:<{twidth}}  {e.dockerfile:<{fwidth}}  "
                   f"{parents}".rstrip())
    if d.unplaced:
        click.echo(f"{len(d.unplaced)} Dockerfile(s) not placed (commented out in the file):")
        for u in sorted(d.unplaced, key=lambda u: u.dockerfile):
            click.echo(f"  {u.dockerfile}: {u.reason}")
