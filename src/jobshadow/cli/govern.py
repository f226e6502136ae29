"""``jobshadow govern``: principals, grants, declassifiers, labels, retention, the exposure scan (server host).

Every command that changes policy runs the exposure scan afterwards; with ``[govern]
pause_on_findings`` (the default) a finding pauses the programme through the kill switch.
"""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from jobshadow.cli._door import governance, me, print_findings, rows_table, subject_of
from jobshadow.cli._util import Duration, emit_json
from jobshadow.cli.main import AppContext, pass_app
from jobshadow.errors import InputError

if TYPE_CHECKING:
    from jobshadow.govern.door import Finding


# --- govern -------------------------------------------------------------------------------------------
@click.group()
def govern() -> None:
    """Principals, groups, time-limited grants, declassifiers, labels, retention, the exposure scan."""


@govern.command("scan")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable findings.")
@pass_app
def govern_scan(app: AppContext, as_json: bool) -> None:
    """Check every table, grant, file and blob for exposure; exit 1 with findings."""
    with governance(app) as gov:
        findings = gov.scan()
        if findings and gov.on_exposure is not None:
            gov.on_exposure(findings)
        warnings = gov.scan_warnings()
    if as_json:
        emit_json({"ok": not findings, "findings": [vars(f) for f in findings],
                   "warnings": [vars(w) for w in warnings]})
    else:
        print_findings(findings)
        for w in warnings:
            click.echo(textwrap.fill(f"warning [{w.kind}] {w.resource}: {w.message}", 80, subsequent_indent="  ",
                                     break_on_hyphens=False), err=True)
        if not findings:
            click.echo("no findings")
    if findings:
        raise InputError(f"{len(findings)} finding(s)")


def _after(findings: list[Finding]) -> None:
    if findings:
        print_findings(findings)
        raise InputError(f"done, but the exposure scan has {len(findings)} finding(s)")


@govern.command("grant")
@click.argument("principal")
@click.argument("action", type=click.Choice(["read", "write", "export", "administer"]))
@click.argument("table")
@click.option("--purpose", required=True, help="The one purpose the grant serves.")
@click.option("--for", "valid_for", type=Duration(), required=True, help="How long it lasts (e.g. 30d; ≤ 1 year).")
@click.option("--note", default="", help="Why (kept with the grant).")
@click.option("--by", help="Who grants (default: person:<your user name>).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def govern_grant(app: AppContext, principal: str, action: str, table: str, purpose: str, valid_for: float, note: str,
                 by: str | None, as_json: bool) -> None:
    """Allow PRINCIPAL (person:…, service:…, group:…) to ACTION on TABLE for one purpose, for a while."""
    with governance(app) as gov:
        g, findings = gov.grant(principal, action, table, purpose, valid_for, me(by), note)
    expires = datetime.fromtimestamp(g.expires_at, UTC).isoformat(timespec="seconds")
    if as_json:
        emit_json({"id": g.id, "expires": expires, "findings": [vars(f) for f in findings]})
    else:
        click.echo(f"grant {g.id}: {principal} {action} {table} for {purpose} until {expires}")
    _after(findings)


@govern.command("revoke")
@click.argument("grant_id")
@click.option("--by", help="Who revokes.")
@pass_app
def govern_revoke(app: AppContext, grant_id: str, by: str | None) -> None:
    """Revoke a grant at once."""
    with governance(app) as gov:
        findings = gov.revoke(grant_id, me(by))
    click.echo(f"revoked {grant_id}")
    _after(findings)


@govern.command("grants")
@click.option("--all", "show_all", is_flag=True, help="Include expired grants.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def govern_grants(app: AppContext, show_all: bool, as_json: bool) -> None:
    """Active grants."""
    import time

    with governance(app) as gov:
        grants = gov.state.grants(active_at=None if show_all else time.time())
    rows = [{"id": g.id, "principal": g.principal, "action": g.action, "table": g.resource, "purpose": g.purpose,
             "expires": datetime.fromtimestamp(g.expires_at, UTC).isoformat(timespec="seconds"), "by": g.created_by}
            for g in grants]
    emit_json(rows) if as_json else rows_table(rows)


@govern.group("principal")
def principal_group() -> None:
    """People, services and groups known to the policy."""


@principal_group.command("add")
@click.argument("principal")
@click.option("--public-key", help="Raw Ed25519 public key (64 hex) for signed HTTP queries.")
@click.option("--person", help="For person:… principals: their e-mail in the programme, to read their own data.")
@click.option("--by", help="Who adds.")
@pass_app
def principal_add(app: AppContext, principal: str, public_key: str | None, person: str | None,
                  by: str | None) -> None:
    """Register PRINCIPAL (person:<email>, service:<name> or group:<name>)."""
    with governance(app) as gov:
        person_id = None
        if person:
            person_id = gov.person_of(subject_of(gov, app, person))
        findings = gov.add_principal(principal, me(by), public_key=public_key, person_id=person_id)
    click.echo(f"registered {principal}")
    _after(findings)


@principal_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def principal_list(app: AppContext, as_json: bool) -> None:
    """Principals with their groups and group sizes."""
    with governance(app) as gov:
        sizes = gov.state.group_sizes()
        rows = [{"id": p["id"], "groups": ",".join(p["groups"]), "members": sizes.get(p["id"], ""),
                 "signs_queries": bool(p["public_key"])} for p in gov.state.principals()]
    emit_json(rows) if as_json else rows_table(rows)


@govern.group("member")
def member_group() -> None:
    """Group membership."""


@member_group.command("add")
@click.argument("member")
@click.argument("group")
@click.option("--by", help="Who adds.")
@pass_app
def member_add(app: AppContext, member: str, group: str, by: str | None) -> None:
    """Put MEMBER (a person, service or group) in GROUP."""
    with governance(app) as gov:
        findings = gov.add_member(member, group, me(by))
    click.echo(f"{member} is in {group}")
    _after(findings)


@member_group.command("remove")
@click.argument("member")
@click.argument("group")
@click.option("--by", help="Who removes.")
@pass_app
def member_remove(app: AppContext, member: str, group: str, by: str | None) -> None:
    """Take MEMBER out of GROUP."""
    with governance(app) as gov:
        findings = gov.remove_member(member, group, me(by))
    click.echo(f"{member} left {group}")
    _after(findings)


@govern.command("declassifier")
@click.argument("name")
@click.option("--removes", required=True, multiple=True, help="A label it may remove (repeatable).")
@click.option("--description", required=True, help="What it does to the data that justifies it.")
@click.option("--by", help="Who registers it.")
@pass_app
def govern_declassifier(app: AppContext, name: str, removes: tuple[str, ...], description: str,
                        by: str | None) -> None:
    """Register a declassifier: the only way a derived table may carry fewer labels than its inputs."""
    with governance(app) as gov:
        findings = gov.register_declassifier(name, list(removes), description, me(by))
    click.echo(f"declassifier {name} may remove {', '.join(removes)}")
    _after(findings)


@govern.command("tables")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def govern_tables(app: AppContext, as_json: bool) -> None:
    """Every table with its labels, sealed columns and lineage."""
    with governance(app) as gov:
        rows = []
        for name in gov.labelled_tables():
            d = gov.tables.definition(name)
            rows.append({"table": name, "labels": ",".join(sorted(d.labels)),
                         "sealed": ",".join(c.name for c in d.sealed), "derived_from": ",".join(gov.lineage(name))})
    emit_json(rows) if as_json else rows_table(rows)


@govern.command("purposes")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def govern_purposes(as_json: bool) -> None:
    """The purpose registry: purposes, forbidden purposes, and what each label may serve."""
    from jobshadow.govern.purposes import registry

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
@click.option("--now", "now_text", help="Pretend it is this time (ISO 8601), to simulate the clock.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@pass_app
def govern_retention(app: AppContext, now_text: str | None, as_json: bool) -> None:
    """Shred everything whose retention (by label and by collection scope) has passed."""
    from jobshadow.govern.retention import enforce_retention

    now = None
    if now_text:
        try:
            now = datetime.fromisoformat(now_text.replace("Z", "+00:00"))
        except ValueError:
            raise InputError(f"--now {now_text!r} is not an ISO 8601 time") from None
        now = now if now.tzinfo else now.replace(tzinfo=UTC)
    with governance(app) as gov:
        report = enforce_retention(gov, now)
    if as_json:
        emit_json(report.as_json())
    else:
        click.echo(f"retention at {report.now}: rows {sum(report.rows_deleted.values())} "
                   f"({', '.join(f'{k} {v}' for k, v in report.rows_deleted.items()) or 'none'}), "
                   f"sealed blocks {report.vault_blocks_deleted}, media {report.media_removed}, "
                   f"files removed {report.files_removed}")


COMMANDS = [govern]
