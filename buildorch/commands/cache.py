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


def ensure_volume(engine: Engine, name: str = disk.PIP_CACHE_VOLUME) -> tuple[str, bool]:
    """Create the protected volume unless it exists; (name, created)."""
    import docker.errors

    try:
        vol = engine.client.api.inspect_volume(name)
    except docker.errors.NotFound:
        engine.client.api.create_volume(name, labels={disk.PROTECT_LABEL: "true"})
        return name, True
    if not disk._protected(vol):   # cannot relabel a volume: it is protected by name anyway
        click.echo(f"note: volume {name} exists without the {disk.PROTECT_LABEL} label; "
                   "it is protected by its name", err=True)
    return name, False


@click.group("cache")
def command() -> None:
    """Shared caches."""


@command.command("volume")
def volume() -> None:
    """Create (once) the labeled pip-cache volume and print the compose snippet."""
    name, created = ensure_volume(Engine.connect())
    click.echo(f"volume {name} {'created' if created else 'already exists'} "
               f"({disk.PROTECT_LABEL}=true)")
    click.echo(SNIPPET)
