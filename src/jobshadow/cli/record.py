"""``jobshadow record start|stop|pause|resume|status``."""

from __future__ import annotations

import signal
import sys
from types import FrameType

import click

from jobshadow.agent.control import send_command
from jobshadow.cli._util import Duration, emit_json
from jobshadow.cli.main import AppContext, pass_app


@click.group()
def record() -> None:
    """Record this X11 session (foreground) and control a running recorder."""


@record.command("start")
@click.option("--display", help="X display to record, e.g. :0 (default: $DISPLAY).")
@click.option("--duration", type=Duration(), help="Stop after this long (e.g. 60, 90s, 30m).")
@pass_app
def start(app: AppContext, display: str | None, duration: float | None) -> None:
    """Record in the foreground until the duration ends, `record stop`, Ctrl-C or SIGTERM."""
    from jobshadow.agent.recorder import Recorder

    rec = Recorder(app.settings, display=display)
    rec.check_ready()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        rec.request_stop(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    def started() -> None:
        for rep in rec.recovered:
            click.echo(f"recovered segment {rep.segment_id}: {rep.outcome} ({rep.messages} records)", err=True)
        click.echo(f"recording display {rec.display_name} (session {rec.session}); "
                   "stop with `jobshadow record stop`", err=True)

    rec.run(duration, on_started=started)
    st = rec.status()
    click.echo(
        f"stopped ({rec.stop_reason or 'stop'}): {len(rec.spool.finished)} segment(s), "
        f"{sum(st['events_captured'].values())} events, {st['frames']} frames, "
        f"{sum(st['frames_dropped'].values())} dropped", err=True)
    if rec.failure is not None:
        click.echo(f"Error: recording failed: {type(rec.failure).__name__}: {rec.failure}", err=True)
        sys.exit(1)


@record.command("stop")
@pass_app
def stop(app: AppContext) -> None:
    """Stop the running recorder; it finishes the open segment."""
    send_command(app.home.control_socket, "stop")
    click.echo("stop requested")


@record.command("pause")
@click.option("--for", "for_", type=Duration(), help="Resume automatically after this long (e.g. 30m).")
@pass_app
def pause(app: AppContext, for_: float | None) -> None:
    """Pause: nothing is recorded (no events, no frames) until resumed."""
    send_command(app.home.control_socket, "pause", {"seconds": for_} if for_ else {})
    click.echo(f"paused{f' for {for_:g}s' if for_ else ''}")


@record.command("resume")
@pass_app
def resume(app: AppContext) -> None:
    """Resume recording after a pause."""
    send_command(app.home.control_socket, "resume")
    click.echo("resumed")


@record.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def status(app: AppContext, as_json: bool) -> None:
    """Show what the running recorder is doing (exit 1 when none runs)."""
    st = send_command(app.home.control_socket, "status")["status"]
    if as_json:
        emit_json(st)
        return
    click.echo(f"state: {st['state']} ({st['reason']})")
    if st.get("paused_until"):
        click.echo(f"paused until: {st['paused_until']}")
    click.echo(f"display {st['display']}  session {st['session']}  uptime {st['uptime_s']}s")
    click.echo(f"segment {st['segment']} ({st['segment_bytes']} bytes), finished: {st['segments_finished']}")
    ev = st["events_captured"]
    click.echo("events: " + ", ".join(f"{k}={v}" for k, v in ev.items()))
    click.echo(f"frames: {st['frames']}  dropped: {sum(st['frames_dropped'].values())}  "
               f"held keys: {st['held_keys']}  redactions: {st['redactions']}")


COMMANDS = [record]
