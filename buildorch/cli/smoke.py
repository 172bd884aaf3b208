"""`buildorch smoke [IMAGES…]`: run the smoke checks on the images as the engine holds them."""

from __future__ import annotations

import difflib
import threading

import click

from buildorch.cli import config_of, note
from buildorch.edges import proc
from buildorch.errors import EXIT_ERROR, EXIT_INTERRUPTED, BuildorchError


@click.command("smoke")
@click.argument("images", nargs=-1)
@click.pass_context
def command(ctx: click.Context, images: tuple[str, ...]) -> None:
    """Start each image (IMAGES, else every image with a check) with no network and run its
    `smoke` check: a command, or "healthcheck" (wait for its HEALTHCHECK to report healthy)."""
    from buildorch.edges.engine import Engine
    from buildorch.running.smoke import run_smoke

    cfg = config_of(ctx)
    for n in images:
        if n not in cfg.images:
            hint = difflib.get_close_matches(n, list(cfg.images), n=1)
            raise BuildorchError(f"unknown image {n!r}" + (
                f"; did you mean {hint[0]!r}?" if hint else "; see `buildorch graph`"))
    chosen = list(images) or [n for n, i in cfg.images.items() if i.smoke]
    for n in chosen:
        if cfg.images[n].smoke is None:
            note(f"{n} has no smoke check: add `smoke = [...]` or `smoke = \"healthcheck\"` "
                 f"to {cfg.images[n].table}")
    todo = [n for n in chosen if cfg.images[n].smoke is not None]
    if not todo:
        click.echo("no smoke checks to run")
        return
    engine = Engine.connect()
    cancel = threading.Event()
    failed = 0
    width = max(len(n) for n in todo)
    with proc.cancel_on_signals(cancel):
        for n in todo:
            image = cfg.images[n]
            assert image.smoke is not None
            res = run_smoke(engine.client, cfg.ref(n), image.smoke,
                            timeout_s=cfg.tiers[image.tier].smoke_timeout, cancel=cancel,
                            name=n)
            if res.cancelled:
                click.echo(f"{n:<{width}}  cancelled", err=True)
                raise click.exceptions.Exit(EXIT_INTERRUPTED)
            if res.ok:
                click.echo(f"{n:<{width}}  passed {res.duration_s:5.1f}s  "
                           f"{image.smoke.describe()}")
                continue
            failed += 1
            click.echo(f"{n:<{width}}  FAILED {res.duration_s:5.1f}s  {res.reason}", err=True)
            for line in res.log_tail:
                click.echo(f"  | {line}", err=True)
    click.echo(f"{len(todo)} checked: {len(todo) - failed} passed, {failed} failed")
    if failed:
        raise click.exceptions.Exit(EXIT_ERROR)
