"""``jobshadow subject``: a person's rights over their data — export everything, or erase it (server host)."""

from __future__ import annotations

from pathlib import Path

import click

from jobshadow.cli._door import governance, me, subject_of
from jobshadow.cli._util import emit_json
from jobshadow.cli.main import AppContext, pass_app
from jobshadow.errors import InputError


# --- subject ------------------------------------------------------------------------------------------
@click.group()
def subject() -> None:
    """A person's rights over their data: export everything held, or erase it."""


@subject.command("erase")
@click.argument("who")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--by", help="Who carries out the request.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@pass_app
def subject_erase(app: AppContext, who: str, yes: bool, by: str | None, as_json: bool) -> None:
    """Erase WHO (s_… subject, person id or e-mail): destroy their key, then every row and file.

    Every dataset built before that holds their data (the governed dataset registry knows which)
    is rewritten without them, or withdrawn when it cannot be; what could not be reached is
    reported and the command fails.
    """
    from jobshadow.govern.rights import erase_subject

    with governance(app) as gov:
        subj = subject_of(gov, app, who)
        if not yes:
            click.confirm(f"erase everything held about {subj}? This cannot be undone", abort=True)
        report = erase_subject(gov, subj, me(by))
    if as_json:
        emit_json(report.as_json())
    else:
        click.echo(f"erased {report.subject}: key destroyed {report.key_destroyed}, unreadable after "
                   f"{report.unreadable_after_s * 1000:.0f} ms; rows {sum(report.rows_deleted.values())}, "
                   f"files {report.files_removed}, media {report.media_removed}, pending uploads "
                   f"{report.landed_blobs_removed}; done in {report.total_s:.2f} s")
        for d in report.datasets:
            click.echo(f"dataset {d['dataset']} ({d['location']}): {d['detail']}")
    if report.residual:
        raise InputError(f"something of {report.subject} remains: {', '.join(report.residual)}")


@subject.command("export")
@click.argument("who")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="New folder for the export (created 0700).")
@click.option("--by", help="Who carries out the request.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest.")
@pass_app
def subject_export(app: AppContext, who: str, out: Path, by: str | None, as_json: bool) -> None:
    """Everything held about WHO, with purposes, recipients (from the audit log) and retention."""
    from jobshadow.govern.rights import export_subject

    with governance(app) as gov:
        manifest = export_subject(gov, subject_of(gov, app, who), out, me(by))
    if as_json:
        emit_json(manifest)
    else:
        rows = sum(t["rows"] for t in manifest["tables"].values())
        click.echo(f"exported {rows} rows from {len(manifest['tables'])} tables, {len(manifest['media'])} media "
                   f"files, {len(manifest['recipients'])} recipient entries to {out}")


COMMANDS = [subject]
