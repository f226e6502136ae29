"""``jobshadow query`` and ``jobshadow curate``: reading the governed lake, and filling it (signed requests)."""

from __future__ import annotations

import click

from jobshadow.cli._door import call, door, rows_table
from jobshadow.cli._util import emit_json
from jobshadow.cli.main import AppContext, pass_app
from jobshadow.errors import InputError, RequestRejected


# --- query --------------------------------------------------------------------------------------------
@click.command("query")
@click.argument("sql")
@click.option("--purpose", required=True, help="Purpose of the read (see `jobshadow govern purposes`).")
@click.option("--max-rows", type=click.IntRange(min=1), default=10000, show_default=True,
              help="Refuse results larger than this.")
@click.option("--json", "as_json", is_flag=True, help="Rows as a JSON list.")
@pass_app
def query(app: AppContext, sql: str, purpose: str, max_rows: int, as_json: bool) -> None:
    """Run one SELECT over governed tables, as the logged-in person, for PURPOSE (DuckDB).

    Columns you may not read for PURPOSE are null; rows are those PURPOSE may see; every
    decision is in the audit log. Needs the researcher role (auditors: privacy_audit). Example:

        jobshadow query --purpose model_training
          "SELECT kind, count(*) FROM curated.events GROUP BY kind"
    """
    try:
        out = door(app).query(purpose, sql)
    except RequestRejected as exc:
        raise InputError(f"refused: {exc}" if exc.status in (401, 403) else str(exc)) from None
    if len(out["rows"]) > max_rows:
        raise InputError(f"the result has more than {max_rows} rows; aggregate or add LIMIT")
    rows = [dict(zip(out["columns"], r, strict=True)) for r in out["rows"]]
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
    """Curate every landed segment not curated yet (idempotent; the server does it, as the pipeline)."""
    report = call(app, "curate.run", limit=limit)
    if as_json:
        emit_json(report)
    else:
        click.echo(f"curated {report['curated']}, already curated {report['skipped']}, erased {report['erased']}, "
                   f"failed {report['failed']}, rows {report['rows']}" + (" (programme paused)" if report["paused"]
                                                                          else ""))
        click.echo(f"screen: {report['frames']} frames read, {report['frames_redacted']} with secrets or personal "
                   f"data filled, {report['frames_withheld']} withheld (could not be checked)")
    if report["failed"]:
        raise InputError(f"{report['failed']} segment(s) failed to curate; see the server's log")


COMMANDS = [query, curate]
