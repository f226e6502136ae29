"""``jobshadow audit``: verify the tamper-evident audit log, and ask it who read what (signed requests)."""

from __future__ import annotations

import textwrap

import click

from jobshadow.cli._door import call, narrow_table
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
    problem. A signed request by a logged-in auditor.
    """
    report = call(app, "audit.verify", quorum=quorum)
    summary = report.pop("summary")
    if as_json:
        emit_json(report)
    else:
        for line in summary:
            click.echo(textwrap.fill(line, 80, subsequent_indent="  ", break_on_hyphens=False))
    if not report["ok"]:
        raise InputError("the audit log does not verify")


@audit.command("key")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def audit_key(app: AppContext, as_json: bool) -> None:
    """The audit log's verifier key: give it to each witness (`audit witness init --log-key`)."""
    vkey = call(app, "audit.key")["verifier_key"]
    if as_json:
        emit_json({"verifier_key": vkey})
    else:
        click.echo(vkey)


@audit.command("who")
@click.option("--table", help="Reads of this table (e.g. curated.events).")
@click.option("--subject", help="Reads of this person's data: their e-mail address or subject (s_…).")
@click.option("--since", help="From this time on (ISO 8601, e.g. 2026-11-01 or 2026-11-01T09:00:00Z).")
@click.option("--principal", help="Only this principal.")
@click.option("--denied", is_flag=True, help="Only refusals.")
@click.option("--limit", type=click.IntRange(min=1), default=1000, show_default=True, help="The newest this many.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (every field).")
@pass_app
def audit_who(app: AppContext, table: str | None, subject: str | None, since: str | None, principal: str | None,
              denied: bool, limit: int, as_json: bool) -> None:
    """Who read what, for which purpose, and what was refused: newest first."""
    rows = call(app, "audit.who", table=table, subject=subject, since=since, principal=principal, denied=denied,
                limit=limit)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("(no records)")
        return
    lines = [(r["time"][5:19].replace("T", " "), r["principal"],
              f"{r['action']} {r['resource'].removeprefix('table:')}", r["purpose"],
              "ok" if r["decision"] == "allow" else "DENY") for r in rows]
    narrow_table(lines, (14, 22, 22, 14), ("WHEN (UTC)", "WHO", "WHAT", "PURPOSE", "OK"))


audit.add_command(witness)

COMMANDS = [audit]
