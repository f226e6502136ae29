"""``jobshadow device enroll|status`` and ``jobshadow upload run|status``: this device and the collector."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click

from jobshadow.cli._util import emit_json
from jobshadow.cli.main import AppContext, pass_app
from jobshadow.errors import StateError


@click.group()
def device() -> None:
    """Enrol this device with a collector and show its enrolment."""


@device.command("enroll")
@click.option("--server", "server_url", required=True, help="Collector URL, e.g. https://collector.example.com")
@click.option("--code", required=True, help="The one-time code from `jobshadow admin enroll-code`.")
@click.option("--name", help="A name for this device (default: the host name).")
@pass_app
def enroll(app: AppContext, server_url: str, code: str, name: str | None) -> None:
    """Generate this device's key pair and redeem CODE at the collector."""
    from jobshadow.upload.identity import enroll as do_enroll
    from jobshadow.upload.identity import load_identity

    if load_identity(app.home) is not None:
        raise StateError("this JOBSHADOW_HOME is already enrolled; use a new home to enrol again")
    ident = do_enroll(app.home, server_url, code, name)
    click.echo(f"enrolled as device {ident.device_id} of {ident.person} at {ident.server_url}")


@device.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def status(app: AppContext, as_json: bool) -> None:
    """Enrolment, and the last configuration received from the collector."""
    import msgspec

    from jobshadow.upload.identity import load_identity
    from jobshadow.upload.sync import cached_config

    ident = load_identity(app.home)
    cached = cached_config(app.home)
    data = {"enrolled": ident is not None, **(ident.as_json() if ident else {}),
            "config": msgspec.to_builtins(cached) if cached is not None else None}
    if as_json:
        emit_json(data)
        return
    if ident is None:
        click.echo("not enrolled")
        return
    cfg = data["config"] or {}
    click.echo(f"device {ident.device_id} of {ident.person} at {ident.server_url}")
    click.echo(f"programme: {cfg.get('programme', {}).get('state', '?')}  scope: "
               f"{(cfg.get('scope') or {}).get('name', 'none')}")


@click.group()
def upload() -> None:
    """Deliver finished segments to the collector (the recorder also does this in the background)."""


@upload.command("run")
@click.option("--once", is_flag=True, help="Deliver what is eligible now, then exit.")
@pass_app
def run(app: AppContext, once: bool) -> None:
    """Upload eligible segments; without --once keep going until Ctrl-C or SIGTERM."""
    from jobshadow.agent.device_agent import standalone_uploader

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    stats = standalone_uploader(app.settings, stop, once=once)
    click.echo(f"landed {stats.landed} segment(s), {stats.bytes_sent:,} bytes sent, {stats.quarantined} quarantined"
               + (f"; last error: {stats.last_error}" if stats.last_error else ""))


@upload.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def upload_status(app: AppContext, as_json: bool) -> None:
    """Segments waiting, prepared (outbox) and quarantined."""
    from jobshadow.spool.store import SpoolStore

    home = app.home
    outbox = sorted(p.stem for p in (home.spool_dir / "outbox").glob("*.json"))
    quarantine = sorted(p.name for p in (home.spool_dir / "quarantine").glob("*.reason.txt"))
    waiting = [s.id for s in SpoolStore(home).list() if s.state == "finished" and s.id not in outbox]
    data = {"waiting": waiting, "outbox": outbox, "quarantined": [q.removesuffix(".reason.txt") for q in quarantine]}
    if as_json:
        emit_json(data)
    else:
        click.echo(f"waiting: {len(waiting)}  prepared: {len(outbox)}  quarantined: {len(quarantine)}")


COMMANDS = [device, upload]
