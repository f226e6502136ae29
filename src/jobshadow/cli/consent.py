"""``jobshadow consent show|give|withdraw|status``: the person's own controls, equal for everyone."""

from __future__ import annotations

import shutil

import click

from jobshadow.agent.control import send_command
from jobshadow.cli._util import emit_json
from jobshadow.cli.main import AppContext, pass_app
from jobshadow.errors import ControlError, InputError
from jobshadow.protect.consent import ConsentStore, notice_text, notice_version
from jobshadow.spool.keys import forget_spool_key


@click.group()
def consent() -> None:
    """Read what is recorded, agree to it, or withdraw (stops recording at once)."""


@consent.command("show")
def show() -> None:
    """Print the notice: what is captured, for which purposes, retention, your rights."""
    click.echo(notice_text())
    click.echo(f"(notice version {notice_version()})")


@consent.command("give")
@click.option("--yes", is_flag=True, help="Agree without the interactive question (you read `consent show`).")
@pass_app
def give(app: AppContext, yes: bool) -> None:
    """Agree to the notice shown by `jobshadow consent show`."""
    if not yes:
        click.echo(notice_text())
        if not click.confirm("Do you agree to be recorded as described above?", default=False):
            raise InputError("consent not given; nothing will be recorded")
    rec = ConsentStore(app.home).give()
    click.echo(f"consent given to notice {rec.notice_version} at {rec.given_at}" + _mirror(app, "given"))


@consent.command("withdraw")
@click.option("--delete-local", is_flag=True, help="Also delete every recording not yet uploaded (and its key).")
@pass_app
def withdraw(app: AppContext, delete_local: bool) -> None:
    """Withdraw consent: a running recorder stops at once; nothing more is recorded."""
    home = app.home
    ConsentStore(home).withdraw()
    stopped = False
    try:
        send_command(home.control_socket, "withdraw", timeout=3.0)
        stopped = True
    except ControlError:
        pass  # no recorder running (or it noticed the consent file itself)
    if delete_local:
        # Destroying the key first makes every segment unreadable even if a delete fails.
        forget_spool_key(home)
        if home.spool_dir.exists():
            shutil.rmtree(home.spool_dir)
        home.ensure()
    click.echo("consent withdrawn" + ("; recorder stopped" if stopped else "")
               + ("; local recordings deleted" if delete_local else "") + _mirror(app, "withdrawn"))


def _mirror(app: AppContext, state: str) -> str:
    """Tell the collector at once when this device is enrolled (the recorder retries if offline)."""
    from jobshadow.errors import JobshadowError
    from jobshadow.upload.client import CollectorClient
    from jobshadow.upload.identity import load_identity

    ident = load_identity(app.home)
    if ident is None:
        return ""
    try:
        with CollectorClient(ident.server_url, ident, timeout=5) as client:
            client.report_consent(state)
    except JobshadowError:
        return "; the collector will be told when it can be reached"
    return "; the collector was told"


@consent.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def status(app: AppContext, as_json: bool) -> None:
    """Show the consent state on this device."""
    rec = ConsentStore(app.home).read()
    data = {"state": rec.state, "notice_version": rec.notice_version, "current_notice_version": notice_version(),
            "given_at": rec.given_at, "withdrawn_at": rec.withdrawn_at}
    if as_json:
        emit_json(data)
    else:
        click.echo(f"consent: {rec.state}")


COMMANDS = [consent]
