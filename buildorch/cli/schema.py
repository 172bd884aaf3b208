"""`buildorch schema`: services.toml's JSON Schema (or its Markdown reference), for editors."""

from __future__ import annotations

from pathlib import Path

import click

from buildorch.cli import out


@click.command("schema")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              help="Write it to FILE instead of printing it.")
@click.option("--format", "fmt", type=click.Choice(["json", "markdown"]), default="json",
              show_default=True, help="The JSON Schema, or the reference for people.")
def command(output: Path | None, fmt: str) -> None:
    """Print services.toml's JSON Schema. Make `#:schema FILE-OR-URL` the first line of
    services.toml and editors that read Taplo's directive (Even Better TOML) complete and
    check it."""
    from buildorch import schema

    text = schema.json_text() if fmt == "json" else schema.reference_markdown()
    if output is None:
        out(text.rstrip("\n"))
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}", err=True)
