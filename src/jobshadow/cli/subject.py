"""``jobshadow subject``: a person's rights over their data — export, erase, legal holds (signed requests)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import click

from jobshadow.cli._door import call, door
from jobshadow.cli._util import emit_json
from jobshadow.cli.main import AppContext, pass_app
from jobshadow.errors import InputError, RequestRejected

WHO = "WHO is the person's e-mail address, person id or subject (s_…)."


@click.group()
def subject() -> None:
    """A person's rights over their data: export everything held, or erase it (the DPO's)."""


@subject.command("erase")
@click.argument("who")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@pass_app
def subject_erase(app: AppContext, who: str, yes: bool, as_json: bool) -> None:
    """Erase WHO: destroy their key, then every row and file; end their enrolment and capture.

    Every dataset built before that holds their data (the governed dataset registry knows which)
    is rewritten without them, or withdrawn when it cannot be; what could not be reached is
    reported and the command fails. Their devices are revoked and the link from their e-mail
    address removed, unless a legal hold (`subject hold`) keeps it. WHO is the person's e-mail
    address, person id or subject (s_…).
    """
    if not yes:
        click.confirm(f"erase everything held about {who}? This cannot be undone", abort=True)
    report = call(app, "subject.erase", who=who)
    if as_json:
        emit_json(report)
    else:
        click.echo(f"erased {report['subject']}: key destroyed {report['key_destroyed']}, unreadable after "
                   f"{report['unreadable_after_s'] * 1000:.0f} ms; rows {sum(report['rows_deleted'].values())}, "
                   f"files {report['files_removed']}, media {report['media_removed']}, pending uploads "
                   f"{report['landed_blobs_removed']}; done in {report['total_s']:.2f} s")
        click.echo(f"devices revoked {report['devices_revoked']}; e-mail link "
                   + ("kept (legal hold)" if report["legal_hold"] else "removed"))
        for d in report["datasets"]:
            click.echo(f"dataset {d['dataset']} ({d['location']}): {d['detail']}")
    if report["residual"]:
        raise InputError(f"something of {report['subject']} remains: {', '.join(report['residual'])}")


@subject.command("export")
@click.argument("who")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="New folder for the export, on this machine (created 0700; files 0600).")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest.")
@pass_app
def subject_export(app: AppContext, who: str, out: Path, as_json: bool) -> None:
    """Everything held about WHO, with purposes, recipients (from the audit log) and retention.

    WHO is the person's e-mail address, person id or subject (s_…).
    """
    import json

    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out} is not empty; export into a new folder")
    try:
        _, data = door(app).fetch("subject.export", who=who)
    except RequestRejected as exc:
        raise InputError(f"refused: {exc}" if exc.status in (401, 403) else str(exc)) from None
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    out.chmod(0o700)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        tar.extractall(out, filter="data")  # refuses absolute paths, "..", links out of the folder
    for path in [out, *out.rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)
    manifest = json.loads((out / "manifest.json").read_text())
    if as_json:
        emit_json(manifest)
    else:
        rows = sum(t["rows"] for t in manifest["tables"].values())
        click.echo(f"exported {rows} rows from {len(manifest['tables'])} tables, {len(manifest['media'])} media "
                   f"files, {len(manifest['recipients'])} recipient entries to {out}")


@subject.command("hold")
@click.argument("who")
@click.option("--reason", required=True, help="The legal matter (kept in the audit log).")
@pass_app
def subject_hold(app: AppContext, who: str, reason: str) -> None:
    """Place a legal hold on WHO: an erasure then keeps their e-mail → pseudonym link."""
    out = call(app, "subject.hold", who=who, reason=reason)
    click.echo(f"legal hold on {out['subject']}")


@subject.command("release")
@click.argument("who")
@pass_app
def subject_release(app: AppContext, who: str) -> None:
    """Release the legal hold on WHO."""
    out = call(app, "subject.release", who=who)
    click.echo(f"legal hold on {out['subject']} released")


COMMANDS = [subject]
