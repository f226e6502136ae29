"""``jobshadow admin …``: the programme's levers, as signed requests by the logged-in person.

People and roles, enrolment codes, devices, scopes and their privacy reviews, the kill switch,
consent received outside a device. The server checks the person's role and the separation of
duties (no one approves their own work) and audits every decision.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from jobshadow.cli._door import call, narrow_table
from jobshadow.cli._util import Duration, emit_json
from jobshadow.cli.main import AppContext, pass_app
from jobshadow.protocol import STREAMS

ROLE_HELP = "Comma-separated roles: admin, reviewer, steward, researcher, auditor, dpo."


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _split(v: str) -> list[str]:
    return [x.strip() for x in v.split(",") if x.strip()]


@click.group()
def admin() -> None:
    """People and roles, enrolment, devices, scopes and their privacy reviews, the kill switch."""


@admin.command("invite")
@click.argument("email")
@click.option("--roles", required=True, help=ROLE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def invite(app: AppContext, email: str, roles: str, as_json: bool) -> None:
    """Invite EMAIL with roles: prints a one-time code for `jobshadow login`."""
    out = call(app, "admin.invite", email=email, roles=_split(roles))
    if as_json:
        emit_json({**out, "expires": _when(out["expires"])})
    else:
        click.echo(f"{out['code']}  (for {email} as {', '.join(out['roles'])}; valid until {_when(out['expires'])};")
        click.echo(f"  use once: jobshadow login --server URL --code {out['code']})")


@admin.command("people")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def people(app: AppContext, as_json: bool) -> None:
    """People who can log in, and their roles."""
    rows = call(app, "admin.people")
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        click.echo(f"{r['principal']}  {', '.join(r['roles'])}")


@admin.command("roles")
@click.argument("email")
@click.option("--roles", required=True, help=ROLE_HELP)
@pass_app
def set_roles(app: AppContext, email: str, roles: str) -> None:
    """Set the roles of EMAIL (who logged in before)."""
    out = call(app, "admin.roles", email=email, roles=_split(roles))
    click.echo(f"{out['principal']}: {', '.join(out['roles'])}")


@admin.command("enroll-code")
@click.option("--person", required=True, help="E-mail of the person the device will belong to.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def enroll_code(app: AppContext, person: str, as_json: bool) -> None:
    """Issue a one-time, expiring enrolment code bound to PERSON."""
    out = call(app, "admin.enroll_code", email=person)
    if as_json:
        emit_json({"code": out["code"], "expires": _when(out["expires"])})
    else:
        click.echo(f"{out['code']}  (valid until {_when(out['expires'])}; use once:")
        click.echo(f"  jobshadow device enroll --server URL --code {out['code']})")


@admin.group("device")
def device_group() -> None:
    """List or revoke enrolled devices."""


@device_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def device_list(app: AppContext, as_json: bool) -> None:
    """Enrolled devices and whom they belong to."""
    rows = call(app, "admin.device.list")
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        click.echo(f"{r['device_id']}  {r['person']}  {r['name']}  enrolled {r['enrolled_at']}"
                   + (f"  REVOKED {r['revoked_at']}" if r["revoked_at"] else ""))


@device_group.command("revoke")
@click.argument("device_id")
@pass_app
def device_revoke(app: AppContext, device_id: str) -> None:
    """Revoke DEVICE_ID: every further request from it is refused."""
    call(app, "admin.device.revoke", device_id=device_id)
    click.echo(f"device {device_id} revoked")


@admin.group("scope")
def scope_group() -> None:
    """Collection scopes: what is captured, for which purposes, kept how long."""


@scope_group.command("create")
@click.argument("name")
@click.option("--apps", required=True, help="Comma-separated app patterns (WM_CLASS/process globs; no catch-alls).")
@click.option("--deny-apps", default="", help="Comma-separated app patterns never captured.")
@click.option("--allow-titles", default="", help="Comma-separated title regexes (only these titles, e.g. sites).")
@click.option("--deny-titles", default="", help="Comma-separated title regexes never captured.")
@click.option("--streams", default=",".join(STREAMS), show_default=True, help="Comma-separated streams.")
@click.option("--purposes", default="model_training", show_default=True,
              help="Comma-separated registered purposes (never a forbidden one).")
@click.option("--retention-days", type=click.IntRange(1, 3650), default=90, show_default=True)
@pass_app
def scope_create(app: AppContext, name: str, apps: str, deny_apps: str, allow_titles: str, deny_titles: str,
                 streams: str, purposes: str, retention_days: int) -> None:
    """Define (or redefine) scope NAME; a changed scope needs a new privacy review."""
    out = call(app, "admin.scope.create", name=name, definition={
        "apps": _split(apps), "deny_apps": _split(deny_apps), "allow_titles": _split(allow_titles),
        "deny_titles": _split(deny_titles), "streams": _split(streams), "purposes": _split(purposes),
        "retention_days": retention_days})
    click.echo(f"scope {name} v{out['version']} defined (draft; submit it for privacy review)")


@scope_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def scope_list(app: AppContext, as_json: bool) -> None:
    """Scopes, their state and the state of their privacy review."""
    rows = call(app, "admin.scope.list")
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        click.echo(f"{r['name']} v{r['version']}  {r['state']}  review: {r['review'] or 'none'}  "
                   f"retention: {r['retention_days']}d")
        click.echo(f"  apps: {','.join(r['apps'])}  purposes: {','.join(r['purposes'])}")


@scope_group.command("activate")
@click.argument("name")
@pass_app
def scope_activate(app: AppContext, name: str) -> None:
    """Activate NAME (refused without an approved, unexpired privacy review)."""
    call(app, "admin.scope.activate", name=name)
    click.echo(f"scope {name} active; devices apply it within seconds")


@scope_group.command("deactivate")
@click.argument("name")
@pass_app
def scope_deactivate(app: AppContext, name: str) -> None:
    """Deactivate NAME: devices capture nothing until a scope is active again."""
    call(app, "admin.scope.deactivate", name=name)
    click.echo(f"scope {name} deactivated")


@admin.group("review")
def review_group() -> None:
    """Privacy reviews (DPIA) of scopes: submit, list, show, approve, reject."""


@review_group.command("submit")
@click.argument("scope")
@click.option("--notes", default="", help="What the reviewer should know.")
@pass_app
def review_submit(app: AppContext, scope: str, notes: str) -> None:
    """Submit the current version of SCOPE for privacy review; prints the review id."""
    click.echo(call(app, "admin.review.submit", scope=scope, notes=notes)["review"])


def _show(r: dict[str, Any]) -> None:
    d = r["definition"]
    rows = [("review", f"{r['review']} ({r['state']})"), ("scope", f"{r['scope']} v{r['version']}"),
            ("author", r["author"] or "?"), ("submitted", f"{r['submitted_by']} at {r['submitted_at']}"),
            ("apps", ", ".join(d.get("apps", []))), ("never apps", ", ".join(d.get("deny_apps", [])) or "-"),
            ("sites/titles", ", ".join(d.get("allow_titles", [])) or "any title of those apps"),
            ("never titles", ", ".join(d.get("deny_titles", [])) or "-"),
            ("streams", ", ".join(d.get("streams", []))), ("purposes", ", ".join(d.get("purposes", []))),
            ("retention", f"{d.get('retention_days')} days"), ("change", "; ".join(r["diff"]))]
    if r.get("reviewer"):
        rows.append(("decided", f"{r['reviewer']} at {r['decided_at']}"))
    narrow_table(rows, (14,), ("", ""))


@review_group.command("list")
@click.option("--state", type=click.Choice(["submitted", "approved", "rejected"]), help="Only reviews in this state.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def review_list(app: AppContext, state: str | None, as_json: bool) -> None:
    """Reviews, newest first, each with exactly what it approves."""
    rows = call(app, "admin.review.list", state=state)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("(no reviews)")
    for i, r in enumerate(rows):
        if i:
            click.echo("")
        _show(r)


@review_group.command("show")
@click.argument("review_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def review_show(app: AppContext, review_id: str, as_json: bool) -> None:
    """What REVIEW_ID approves: apps, sites, streams, purposes, retention, the change from before."""
    r = call(app, "admin.review.show", review=review_id)
    if as_json:
        emit_json(r)
    else:
        _show(r)


@review_group.command("approve")
@click.argument("review_id")
@click.option("--valid-for", type=Duration(), default="365d", show_default=True, help="Approval lifetime.")
@click.option("--notes", default="", help="Conditions or findings.")
@pass_app
def review_approve(app: AppContext, review_id: str, valid_for: float, notes: str) -> None:
    """Approve REVIEW_ID (never one you authored or submitted); the scope may then be activated."""
    out = call(app, "admin.review.decide", review=review_id, approve=True, valid_for=valid_for, notes=notes)
    click.echo(f"review {review_id} {out['state']} (scope {out['scope']} v{out['version']})")


@review_group.command("reject")
@click.argument("review_id")
@click.option("--notes", default="", help="Why.")
@pass_app
def review_reject(app: AppContext, review_id: str, notes: str) -> None:
    """Reject REVIEW_ID."""
    out = call(app, "admin.review.decide", review=review_id, approve=False, notes=notes)
    click.echo(f"review {review_id} {out['state']} (scope {out['scope']} v{out['version']})")


@admin.command("pause-programme")
@click.option("--reason", required=True, help="Why (recorded in the audit log and shown to devices).")
@pass_app
def pause_programme(app: AppContext, reason: str) -> None:
    """Kill switch: every device stops capturing and uploading; landing data is quarantined."""
    call(app, "admin.programme.pause", reason=reason)
    click.echo("programme paused; devices stop within seconds; landing zone quarantined")


@admin.command("resume-programme")
@pass_app
def resume_programme(app: AppContext) -> None:
    """Undo a pause (after an exposure finding, only a reviewer may)."""
    call(app, "admin.programme.resume")
    click.echo("programme resumed")


@admin.command("consent")
@click.argument("state", type=click.Choice(["withdrawn", "given"]))
@click.option("--person", required=True, help="E-mail of the person.")
@pass_app
def consent(app: AppContext, state: str, person: str) -> None:
    """Record a person's consent decision received outside the device (e.g. by e-mail)."""
    call(app, "admin.consent", email=person, state=state)
    click.echo(f"consent {state} recorded; that person's devices follow within seconds")


@admin.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def status(app: AppContext, as_json: bool) -> None:
    """Programme state, active scope, counts."""
    data = call(app, "admin.status")
    if as_json:
        emit_json(data)
        return
    prog = data["programme"]
    click.echo(f"programme: {prog['state']}" + (f" ({prog['cause']}): {prog['reason']}" if prog["reason"] else ""))
    scope = data["active_scope"]
    click.echo(f"active scope: {scope['name'] + ' v' + str(scope['version']) if scope else 'none'}")
    click.echo(f"devices: {data['devices']}  landed segments: {data['landed']}")


@admin.command("landed")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def landed(app: AppContext, as_json: bool) -> None:
    """Segments in the landing zone (metadata only; the segments stay sealed)."""
    rows = call(app, "admin.landed")
    if as_json:
        emit_json(rows)
        return
    for r in sorted(rows, key=lambda r: str(r["landed_at"])):
        scope = f"{r['scope_name']} v{r['scope_version']}" if r.get("scope_name") else "no scope"
        click.echo(f"{r['segment_id']}  {r['size_bytes']:>10,} B  {scope}  landed {str(r['landed_at'])[:19]}")


COMMANDS = [admin]
