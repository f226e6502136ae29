"""``jobshadow govern``: grants and requests, groups, declassifiers, labels, retention, the scan.

Signed requests by the logged-in person. A grant on sensitive labels, or joining a pipeline
service group, is a request another person approves (``govern request approve``); every change
runs the exposure scan, and a finding pauses the programme until a reviewer resumes it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from jobshadow.cli._door import after, call, print_findings, rows_table
from jobshadow.cli._util import Duration, emit_json
from jobshadow.cli.main import AppContext, pass_app
from jobshadow.errors import InputError


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


@click.group()
def govern() -> None:
    """Grants and requests, groups, declassifiers, labels, retention, the exposure scan."""


@govern.command("scan")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable findings.")
@pass_app
def govern_scan(app: AppContext, as_json: bool) -> None:
    """Check every table, grant, file and blob for exposure; exit 1 (and pause) with findings."""
    out = call(app, "govern.scan")
    if as_json:
        emit_json(out)
    else:
        print_findings(out["findings"])
        if not out["findings"]:
            click.echo("no findings")
    if out["findings"]:
        raise InputError(f"{len(out['findings'])} finding(s); the programme is paused until a reviewer resumes it")


@govern.command("grant")
@click.argument("principal")
@click.argument("action", type=click.Choice(["read", "write", "export", "administer"]))
@click.argument("table")
@click.option("--purpose", required=True, help="The one purpose the grant serves.")
@click.option("--for", "valid_for", type=Duration(), required=True, help="How long it lasts (e.g. 30d; ≤ 1 year).")
@click.option("--note", default="", help="Why (kept with the grant).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def govern_grant(app: AppContext, principal: str, action: str, table: str, purpose: str, valid_for: float, note: str,
                 as_json: bool) -> None:
    """Allow PRINCIPAL (person:…, service:…, group:…) to ACTION on TABLE for one purpose, for a while.

    On a table with sensitive labels this makes a request that a reviewer other than you approves.
    """
    out = call(app, "govern.grant", principal=principal, action=action, table=table, purpose=purpose,
               valid_for=valid_for, note=note)
    if as_json:
        emit_json({**out, "expires": _when(out["expires"]) if out["expires"] else None})
    elif out["request"]:
        click.echo(f"request {out['request']}: {principal} {action} {table} for {purpose}; "
                   "a reviewer approves it with `jobshadow govern request approve`")
    else:
        click.echo(f"grant {out['grant']}: {principal} {action} {table} for {purpose} until {_when(out['expires'])}")
    after(out["findings"])


@govern.command("revoke")
@click.argument("grant_id")
@pass_app
def govern_revoke(app: AppContext, grant_id: str) -> None:
    """Revoke a grant at once."""
    out = call(app, "govern.revoke", grant=grant_id)
    click.echo(f"revoked {grant_id}")
    after(out["findings"])


@govern.command("grants")
@click.option("--all", "show_all", is_flag=True, help="Include expired grants.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def govern_grants(app: AppContext, show_all: bool, as_json: bool) -> None:
    """Active grants."""
    rows = [{**g, "expires": _when(g["expires"])} for g in call(app, "govern.grants", all=show_all)]
    emit_json(rows) if as_json else rows_table(rows)


@govern.group("request")
def request_group() -> None:
    """Requests one person makes and another approves (sensitive grants, service groups)."""


@request_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Decided requests too.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def request_list(app: AppContext, show_all: bool, as_json: bool) -> None:
    """Requests waiting for approval."""
    rows = call(app, "govern.requests", state=None if show_all else "pending")
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("(no requests)")
    for r in rows:
        what = (f"{r['principal']} {r['action']} {r['table']} for {r['purpose']}" if r["kind"] == "grant"
                else f"{r['member']} joins {r['group']}")
        click.echo(f"{r['request']}  {r['state']}  {r['kind']}: {what}")
        click.echo(f"  asked by {r['requested_by']} at {r['requested_at']}"
                   + (f"; decided by {r['decided_by']}" if r["decided_by"] else ""))


def _decide(app: AppContext, request_id: str, approve: bool) -> None:
    out = call(app, "govern.request.decide", request=request_id, approve=approve)
    extra = f" (grant {out['grant']})" if out.get("grant") else ""
    click.echo(f"request {request_id} {out['state']}{extra}")
    after(out.get("findings", []))


@request_group.command("approve")
@click.argument("request_id")
@pass_app
def request_approve(app: AppContext, request_id: str) -> None:
    """Approve REQUEST_ID (never your own): the grant or membership is made."""
    _decide(app, request_id, True)


@request_group.command("reject")
@click.argument("request_id")
@pass_app
def request_reject(app: AppContext, request_id: str) -> None:
    """Reject REQUEST_ID."""
    _decide(app, request_id, False)


@govern.group("principal")
def principal_group() -> None:
    """People, services and groups known to the policy."""


@principal_group.command("add")
@click.argument("principal")
@click.option("--person", help="For person:… principals: their e-mail in the programme, to read their own data.")
@pass_app
def principal_add(app: AppContext, principal: str, person: str | None) -> None:
    """Register PRINCIPAL (person:<email>, service:<name> or group:<name>)."""
    out = call(app, "govern.principal.add", principal=principal, person=person)
    click.echo(f"registered {principal}")
    after(out["findings"])


@principal_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def principal_list(app: AppContext, as_json: bool) -> None:
    """Principals with their groups and group sizes."""
    rows = call(app, "govern.principal.list")
    emit_json(rows) if as_json else rows_table(rows)


@govern.group("member")
def member_group() -> None:
    """Group membership."""


@member_group.command("add")
@click.argument("member")
@click.argument("group")
@pass_app
def member_add(app: AppContext, member: str, group: str) -> None:
    """Put MEMBER (a person, service or group) in GROUP (a pipeline service group: a request)."""
    out = call(app, "govern.member.add", member=member, group=group)
    if out["request"]:
        click.echo(f"request {out['request']}: {member} joins {group}; another person approves it")
    else:
        click.echo(f"{member} is in {group}")
    after(out["findings"])


@member_group.command("remove")
@click.argument("member")
@click.argument("group")
@pass_app
def member_remove(app: AppContext, member: str, group: str) -> None:
    """Take MEMBER out of GROUP."""
    out = call(app, "govern.member.remove", member=member, group=group)
    click.echo(f"{member} left {group}")
    after(out["findings"])


@govern.command("declassifier")
@click.argument("name")
@click.option("--removes", required=True, multiple=True, help="A label it may remove (repeatable).")
@click.option("--description", required=True, help="What it does to the data that justifies it.")
@pass_app
def govern_declassifier(app: AppContext, name: str, removes: tuple[str, ...], description: str) -> None:
    """Register a declassifier: the only way a derived table may carry fewer labels than its inputs."""
    out = call(app, "govern.declassifier", name=name, removes=list(removes), description=description)
    click.echo(f"declassifier {name} may remove {', '.join(removes)}")
    after(out["findings"])


@govern.command("tables")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def govern_tables(app: AppContext, as_json: bool) -> None:
    """Every table with its labels, sealed columns and lineage."""
    rows = call(app, "govern.tables")
    emit_json(rows) if as_json else rows_table(rows)


@govern.command("purposes")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def govern_purposes(as_json: bool) -> None:
    """The purpose registry: purposes, forbidden purposes, and what each label may serve."""
    from jobshadow.govern import registry

    reg = registry()
    data = {"purposes": reg.purposes, "forbidden": sorted(reg.forbidden),
            "labels": {k: {"purposes": sorted(v.purposes), "retention_days": v.retention_days,
                           "description": v.description} for k, v in reg.labels.items()}}
    if as_json:
        emit_json(data)
        return
    for p, d in reg.purposes.items():
        click.echo(f"purpose {p}: {d}")
    click.echo(f"forbidden (never grantable): {', '.join(sorted(reg.forbidden))}")
    for k, v in reg.labels.items():
        click.echo(f"label {k} ({v.retention_days} days): {', '.join(sorted(v.purposes))}")


@govern.command("retention")
@click.option("--now", "now_text", help="Simulate at this time (ISO 8601): what would be shredded then.")
@click.option("--apply", is_flag=True, help="Shred what outlived its retention now (admin or DPO).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@pass_app
def govern_retention(app: AppContext, now_text: str | None, apply: bool, as_json: bool) -> None:
    """What outlived its retention (by label and by collection scope): a simulation unless --apply."""
    if apply and now_text:
        raise click.UsageError("--apply shreds at the real time; --now only simulates")
    report = call(app, "govern.retention", now=now_text, apply=apply)
    if as_json:
        emit_json(report)
        return
    verb = "shredded" if report["applied"] else "would shred (simulation; --apply to shred)"
    rows = ", ".join(f"{k} {v}" for k, v in report["rows_deleted"].items()) or "none"
    click.echo(f"retention at {report['now']}: {verb}")
    click.echo(f"  rows {sum(report['rows_deleted'].values())} ({rows})")
    click.echo(f"  sealed blocks {report['vault_blocks_deleted']}, media {report['media_removed']}, "
               f"landed blobs {report['landed_blobs_removed']}, files removed {report['files_removed']}")


COMMANDS = [govern]
