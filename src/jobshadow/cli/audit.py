"""``jobshadow audit``: verify the tamper-evident audit log, and ask it who read what (server host)."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

import click

from jobshadow.cli._door import governance, rows_table
from jobshadow.cli._util import emit_json
from jobshadow.cli.main import AppContext, pass_app
from jobshadow.cli.witness import witness
from jobshadow.errors import InputError


# --- audit --------------------------------------------------------------------------------------------
@click.group()
def audit() -> None:
    """The tamper-evident audit log of every access decision."""


@audit.command("verify")
@click.option("--quorum", type=click.IntRange(min=0),
              help="Witnesses that must confirm the log (default: [govern] audit_quorum; 0: a majority).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@pass_app
def audit_verify(app: AppContext, quorum: int | None, as_json: bool) -> None:
    """Recompute the Merkle tree from every record; check heads and witnesses.

    Heads are checked as stored in the log and as published outside it. Each witness in
    [govern] audit_witnesses is asked for the latest checkpoint it co-signed: the log must
    hold it unchanged (else records were rewritten or dropped, and the first record that
    differs is named), and at least a quorum of witnesses must confirm it. Exit 1 on any
    problem.
    """
    with governance(app) as gov:
        trail = gov.verify_audit(quorum)
    if as_json:
        emit_json(trail.as_json())
    else:
        for line in trail.summary():
            click.echo(textwrap.fill(line, 80, subsequent_indent="  ", break_on_hyphens=False))
    if not trail.ok:
        raise InputError("the audit log does not verify")


@audit.command("key")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def audit_key(app: AppContext, as_json: bool) -> None:
    """The audit log's verifier key: give it to each witness (`audit witness init --log-key`)."""
    from jobshadow.govern.heads import log_key
    from jobshadow.govern.storage import Storage

    vkey = log_key(Storage(app.settings))
    if as_json:
        emit_json({"verifier_key": vkey})
    else:
        click.echo(vkey)


@audit.command("who")
@click.option("--table", help="Reads of this table (e.g. curated.events).")
@click.option("--subject", help="Reads of this subject's data (s_…).")
@click.option("--since", help="From this time on (ISO 8601, e.g. 2026-11-01 or 2026-11-01T09:00:00Z).")
@click.option("--principal", help="Only this principal.")
@click.option("--denied", is_flag=True, help="Only refusals.")
@click.option("--limit", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def audit_who(app: AppContext, table: str | None, subject: str | None, since: str | None, principal: str | None,
              denied: bool, limit: int, as_json: bool) -> None:
    """Who read what, for which purpose, and what was refused."""
    from jobshadow.govern.audit import format_time

    since_text = None
    if since:
        try:
            when = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            raise InputError(f"--since {since!r} is not an ISO 8601 time") from None
        since_text = format_time(when if when.tzinfo else when.replace(tzinfo=UTC))
    with governance(app) as gov:
        found = gov.audit_records(table=table, subject=subject, since=since_text, principal=principal,
                                  decision="deny" if denied else None, limit=limit)
    rows = [{"index": i, "time": r.time, "principal": r.principal, "action": r.action, "resource": r.resource,
             "purpose": r.purpose, "decision": r.decision, "subject": r.subject,
             "policies": ",".join(r.policy_ids)} for i, r in found]
    if as_json:
        emit_json(rows)
    else:
        rows_table(rows)


audit.add_command(witness)

COMMANDS = [audit]
