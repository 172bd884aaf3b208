"""`buildorch inputs NAME`: the context files an image's build reads."""

from __future__ import annotations

import json

import click

from buildorch.cli import config_of, note, out
from buildorch.planning import baseline as project


@click.command("inputs")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def command(ctx: click.Context, name: str, as_json: bool) -> None:
    """The context files NAME's build reads (repository-relative, after .dockerignore)."""
    cfg = config_of(ctx)
    snap = project.work_snapshot(cfg)
    if name not in snap.inputs:
        raise cfg.unknown_image(name)
    ins = snap.inputs[name]
    files = sorted(ins.files)
    if as_json:
        doc: dict[str, object] = {"image": name, "files": files}
        if ins.origins:   # files read through a parent's ONBUILD trigger or a named context
            doc["origins"] = dict(sorted(ins.origins.items()))
        out(json.dumps(doc, indent=2))
        return
    for n in ins.notes:
        note(n)
    out(f"{name}: {len(files)} file(s) from {cfg.images[name].context!r} "
         f"via {ins.dockerfile}")
    width = max((len(f) for f in files if f in ins.origins), default=0)
    for f in files:
        out(f"  {f.ljust(width)}  ({ins.origins[f]})" if f in ins.origins else f"  {f}")
