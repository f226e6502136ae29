"""``jobshadow query`` and ``jobshadow curate``: reading the governed lake, and filling it (server host)."""

from __future__ import annotations

import sys

import click

from jobshadow.cli._door import governance, rows_table
from jobshadow.cli._util import emit_json
from jobshadow.cli.main import AppContext, pass_app
from jobshadow.errors import InputError


# --- query --------------------------------------------------------------------------------------------
@click.command("query")
@click.argument("sql")
@click.option("--as", "principal", required=True, help="Principal asking: person:<email>, service:<name>.")
@click.option("--purpose", required=True, help="Purpose of the read (see `jobshadow govern purposes`).")
@click.option("--max-rows", type=click.IntRange(min=1), default=10000, show_default=True,
              help="Refuse results larger than this.")
@click.option("--json", "as_json", is_flag=True, help="Rows as a JSON list.")
@pass_app
def query(app: AppContext, sql: str, principal: str, purpose: str, max_rows: int, as_json: bool) -> None:
    """Run one SELECT over governed tables as PRINCIPAL for PURPOSE (DuckDB).

    Columns PRINCIPAL may not read for PURPOSE are null; rows are those PURPOSE may see; every
    decision is in the audit log. Example:

        jobshadow query --as person:ml@example.com --purpose model_training
          "SELECT kind, count(*) FROM curated.events GROUP BY kind"
    """
    from jobshadow.govern.door import PolicyDenied

    with governance(app) as gov:
        try:
            result = gov.query(principal, purpose, sql, max_rows=max_rows)
        except PolicyDenied as exc:
            raise InputError(f"refused: {exc}") from None
        rows = result.to_pylist()
    if as_json:
        emit_json(rows)
    else:
        rows_table(rows)


# --- curate -------------------------------------------------------------------------------------------
@click.group()
def curate() -> None:
    """Turn landed segments into the curated, labelled, encrypted lake."""


@curate.command("run")
@click.option("--limit", type=click.IntRange(min=1), help="Curate at most this many segments.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@pass_app
def curate_run(app: AppContext, limit: int | None, as_json: bool) -> None:
    """Curate every landed segment not curated yet (idempotent)."""
    from dataclasses import asdict

    from jobshadow.lake.curate import curate as run

    with governance(app) as gov:
        report = run(gov, limit=limit, progress=not as_json and sys.stderr.isatty())
    if as_json:
        emit_json(asdict(report))
    else:
        click.echo(f"curated {report.curated}, already curated {report.skipped}, erased {report.erased}, "
                   f"failed {report.failed}, rows {report.rows}" + (" (programme paused)" if report.paused else ""))
        click.echo(f"screen: {report.frames} frames read, {report.frames_redacted} with secrets or personal data "
                   f"filled, {report.frames_withheld} withheld (could not be checked)")
    if report.failed:
        raise InputError(f"{report.failed} segment(s) failed to curate; see the log (-v)")


COMMANDS = [query, curate]
