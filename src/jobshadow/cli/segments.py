"""``jobshadow segments list|inspect|export|decrypt|recover``: the owner's view of the spool."""

from __future__ import annotations

import os
from pathlib import Path

import click

from jobshadow.cli._util import emit_json
from jobshadow.cli.main import AppContext, pass_app
from jobshadow.errors import InputError, StateError
from jobshadow.segment.reader import summarize
from jobshadow.spool.keys import load_spool_key
from jobshadow.spool.recovery import recover_open_segments
from jobshadow.spool.store import SpoolStore, open_segment


@click.group()
def segments() -> None:
    """List, inspect and export recorded segments (decrypted for their owner only)."""


@segments.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def list_(app: AppContext, as_json: bool) -> None:
    """Segments in the spool, oldest first."""
    rows = SpoolStore(app.home).list()
    if as_json:
        emit_json([{"id": s.id, "state": s.state, "bytes": s.size, "path": str(s.path)} for s in rows])
        return
    if not rows:
        click.echo("no segments")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "state", "bytes")
    for s in rows:
        table.add_row(s.id, s.state, f"{s.size:,}")
    Console().print(table)


@segments.command("inspect")
@click.argument("segment")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def inspect(app: AppContext, segment: str, as_json: bool) -> None:
    """Counts of events, frames, window changes and drops in SEGMENT (a path or an id)."""
    store = SpoolStore(app.home)
    path = store.resolve(segment)
    key = load_spool_key(app.home, app.settings.protect.keyring, create=False)
    opened, content = open_segment(path, key, allow_unfinished=path.name.endswith(".part"))
    summary = summarize(content)
    if not opened.complete:
        summary["problem"] = opened.problem
    if as_json:
        emit_json(summary)
        return
    click.echo(f"segment {summary['id']}  {summary['start']} → {summary['end']}")
    click.echo("events: " + ", ".join(f"{k}={v}" for k, v in summary["events"].items()))
    click.echo(f"frames: {summary['frames']}  window changes: {summary['window_changes']}  "
               f"dropped frames: {summary['dropped_frames']}  redactions: {summary['redactions']}")


@segments.command("export")
@click.argument("segment")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="New (or empty) directory for events.jsonl, windows.jsonl and frames/; made 0700, "
                   "files 0600.")
@pass_app
def export(app: AppContext, segment: str, out: Path) -> None:
    """Decrypt SEGMENT into JSONL events, window changes and PNG frames, readable by you only."""
    store = SpoolStore(app.home)
    path = store.resolve(segment)
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out} is not empty; choose a new directory")
    key = load_spool_key(app.home, app.settings.protect.keyring, create=False)
    _, content = open_segment(path, key, allow_unfinished=path.name.endswith(".part"))
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from jobshadow.spool.export import export_segment

    with Progress(TextColumn("decoding frames"), BarColumn(), MofNCompleteColumn(),
                  transient=True, console=Console(stderr=True)) as progress:
        task = progress.add_task("frames", total=None)

        def step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        counts = export_segment(content, out, step)
    click.echo(f"exported {counts['events']} events, {counts['windows']} window changes, "
               f"{counts['frames']} frames to {out} (folder 0700, files 0600)")


@segments.command("decrypt")
@click.argument("segment")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Where to write the plain MCAP file (opens in Foxglove and mcap tools).")
@pass_app
def decrypt(app: AppContext, segment: str, out: Path) -> None:
    """Write SEGMENT as a plain MCAP file (for viewers). Keep the output private."""
    store = SpoolStore(app.home)
    path = store.resolve(segment)
    if out.exists():
        raise InputError(f"{out} exists; refusing to overwrite")
    if not out.parent.is_dir():
        raise InputError(f"directory {out.parent} does not exist")
    key = load_spool_key(app.home, app.settings.protect.keyring, create=False)
    opened, _ = open_segment(path, key)
    # Created owner-only from the first byte: this is the decrypted recording.
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(opened.plaintext)
    click.echo(f"wrote {out} ({len(opened.plaintext):,} bytes, mode 0600)")


@segments.command("recover")
@pass_app
def recover(app: AppContext) -> None:
    """Finalise segments left open by a recorder that was killed (also done at every start)."""
    if app.home.recorder_running():
        raise StateError("a recorder is running with this JOBSHADOW_HOME; it recovers on its own")
    with app.home.recorder_lock():
        key = load_spool_key(app.home, app.settings.protect.keyring, create=False)
        reports = recover_open_segments(SpoolStore(app.home), key)
    if not reports:
        click.echo("nothing to recover")
    for r in reports:
        click.echo(f"{r.segment_id}: {r.outcome} ({r.messages} records) {r.detail}")


COMMANDS = [segments]
