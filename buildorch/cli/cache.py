"""`buildorch cache volume`: the shared, protected pip cache volume for laptops."""

from __future__ import annotations

import click

from buildorch.edges.engine import Engine
from buildorch.ops import disk

SNIPPET = """\
# docker-compose.yml: share one pip cache between services (buildorch clean never removes it)
services:
  stt:
    volumes:
      - pip-cache:/root/.cache/pip
volumes:
  pip-cache:
    external: true   # created by `buildorch cache volume`"""


@click.group("cache")
def command() -> None:
    """Shared caches."""


@command.command("volume")
def volume() -> None:
    """Create (once) the labeled pip-cache volume and print the compose snippet."""
    name = disk.PIP_CACHE_VOLUME
    created, warning = disk.ensure_volume(Engine.connect(), name)
    if warning:
        click.echo(f"note: {warning}", err=True)
    click.echo(f"volume {name} {'created' if created else 'already exists'} "
               f"({disk.PROTECT_LABEL}=true)")
    click.echo(SNIPPET)
