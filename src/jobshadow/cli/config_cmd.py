"""``jobshadow config show|reference``."""

from __future__ import annotations

import click

from jobshadow.cli._util import emit_json
from jobshadow.cli.main import AppContext, pass_app
from jobshadow.config import iter_fields, settings_dict


@click.group("config")
def config() -> None:
    """Show the effective settings, or the reference of every setting."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def show(app: AppContext, as_json: bool) -> None:
    """The settings in effect (file + environment + defaults)."""
    data = settings_dict(app.settings)
    if as_json:
        emit_json(data)
        return
    for name, _default, _help in iter_fields():
        node = data
        for part in name.split("."):
            node = node[part]
        click.echo(f"{name} = {node!r}")


@config.command("reference")
def reference() -> None:
    """Every setting with its default and help line (Markdown)."""
    click.echo("| setting | default | meaning |\n| --- | --- | --- |")
    for name, default, help_ in iter_fields():
        click.echo(f"| `{name}` | `{default}` | {help_} |")


COMMANDS = [config]
