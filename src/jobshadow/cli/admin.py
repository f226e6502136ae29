"""``jobshadow admin …``: the programme's levers, run on the server host against its database."""

from __future__ import annotations

import contextlib
import getpass
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from jobshadow.cli._util import Duration, emit_json
from jobshadow.cli.main import AppContext, pass_app
from jobshadow.errors import InputError, RequestRejected
from jobshadow.protocol import STREAMS

if TYPE_CHECKING:  # the server stack loads only when an admin command runs, never in the recorder
    from jobshadow.ingest.service import CollectorService


@contextlib.contextmanager
def _collector(app: AppContext) -> Iterator[CollectorService]:
    """The control plane on this host's database; a refusal becomes the command's one-line error."""
    from jobshadow.ingest.service import CollectorService

    svc = CollectorService(app.settings)
    try:
        yield svc
    except RequestRejected as exc:
        raise InputError(str(exc)) from None
    finally:
        svc.close()


def _me(by: str | None) -> str:
    return by or getpass.getuser()


@click.group()
def admin() -> None:
    """Enrolment codes, devices, scopes and their privacy reviews, the kill switch, consent."""


@admin.command("enroll-code")
@click.option("--person", required=True, help="E-mail of the person the device will belong to.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--by", help="Who issues the code (default: your user name).")
@pass_app
def enroll_code(app: AppContext, person: str, as_json: bool, by: str | None) -> None:
    """Issue a one-time, expiring enrolment code bound to PERSON."""
    with _collector(app) as svc:
        code, expires = svc.create_enroll_code(person, by=_me(by))
    when = datetime.fromtimestamp(expires, UTC).isoformat(timespec="seconds")
    if as_json:
        emit_json({"code": code, "expires": when})
    else:
        click.echo(f"{code}  (valid until {when}; use once: jobshadow device enroll --server URL --code {code})")


@admin.group("device")
def device_group() -> None:
    """List or revoke enrolled devices."""


@device_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def device_list(app: AppContext, as_json: bool) -> None:
    """Enrolled devices and whom they belong to."""
    with _collector(app) as svc:
        rows = svc.devices()
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        click.echo(f"{r['device_id']}  {r['person']}  {r['name']}  enrolled {r['enrolled_at']}"
                   + (f"  REVOKED {r['revoked_at']}" if r["revoked_at"] else ""))


@device_group.command("revoke")
@click.argument("device_id")
@click.option("--by", help="Who revokes (default: your user name).")
@pass_app
def device_revoke(app: AppContext, device_id: str, by: str | None) -> None:
    """Revoke DEVICE_ID: every further request from it is refused."""
    with _collector(app) as svc:
        svc.revoke_device(device_id, by=_me(by))
    click.echo(f"device {device_id} revoked")


@admin.group("scope")
def scope_group() -> None:
    """Collection scopes: what is captured, for which purposes, kept how long."""


@scope_group.command("create")
@click.argument("name")
@click.option("--apps", required=True, help="Comma-separated app patterns (WM_CLASS/process globs).")
@click.option("--deny-apps", default="", help="Comma-separated app patterns never captured.")
@click.option("--allow-titles", default="", help="Comma-separated title regexes (only these titles).")
@click.option("--deny-titles", default="", help="Comma-separated title regexes never captured.")
@click.option("--streams", default=",".join(STREAMS), show_default=True, help="Comma-separated streams.")
@click.option("--purposes", default="model_training", show_default=True, help="Comma-separated purposes.")
@click.option("--retention-days", type=click.IntRange(1, 3650), default=90, show_default=True)
@click.option("--by", help="Who defines it (default: your user name).")
@pass_app
def scope_create(app: AppContext, name: str, apps: str, deny_apps: str, allow_titles: str, deny_titles: str,
                 streams: str, purposes: str, retention_days: int, by: str | None) -> None:
    """Define (or redefine) scope NAME; a changed scope needs a new privacy review."""

    def split(v: str) -> list[str]:
        return [x.strip() for x in v.split(",") if x.strip()]

    with _collector(app) as svc:
        out = svc.create_scope(name, {"apps": split(apps), "deny_apps": split(deny_apps),
                                      "allow_titles": split(allow_titles), "deny_titles": split(deny_titles),
                                      "streams": split(streams), "purposes": split(purposes),
                                      "retention_days": retention_days}, by=_me(by))
    click.echo(f"scope {name} v{out['version']} defined (draft; submit it for privacy review)")


@scope_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def scope_list(app: AppContext, as_json: bool) -> None:
    """Scopes, their state and the state of their privacy review."""
    with _collector(app) as svc:
        rows = svc.scopes()
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        click.echo(f"{r['name']} v{r['version']}  {r['state']}  review: {r['review'] or 'none'}  "
                   f"apps: {','.join(r['apps'])}  purposes: {','.join(r['purposes'])}  "
                   f"retention: {r['retention_days']}d")


@scope_group.command("activate")
@click.argument("name")
@click.option("--by", help="Who activates (default: your user name).")
@pass_app
def scope_activate(app: AppContext, name: str, by: str | None) -> None:
    """Activate NAME (refused without an approved, unexpired privacy review)."""
    with _collector(app) as svc:
        svc.activate_scope(name, by=_me(by))
    click.echo(f"scope {name} active; devices apply it within seconds")


@scope_group.command("deactivate")
@click.argument("name")
@click.option("--by", help="Who deactivates (default: your user name).")
@pass_app
def scope_deactivate(app: AppContext, name: str, by: str | None) -> None:
    """Deactivate NAME: devices capture nothing until a scope is active again."""
    with _collector(app) as svc:
        svc.deactivate_scope(name, by=_me(by))
    click.echo(f"scope {name} deactivated")


@admin.group("review")
def review_group() -> None:
    """Privacy reviews (DPIA) of scopes: submit, approve, reject."""


@review_group.command("submit")
@click.argument("scope")
@click.option("--by", help="Who submits (default: your user name).")
@click.option("--notes", default="", help="What the reviewer should know.")
@pass_app
def review_submit(app: AppContext, scope: str, by: str | None, notes: str) -> None:
    """Submit the current version of SCOPE for privacy review; prints the review id."""
    with _collector(app) as svc:
        rid = svc.submit_review(scope, by=_me(by), notes=notes)
    click.echo(rid)


def _decide(app: AppContext, review_id: str, approve: bool, reviewer: str, valid_for: float, notes: str) -> None:
    with _collector(app) as svc:
        out = svc.decide_review(review_id, approve, reviewer, valid_for=valid_for, notes=notes)
    click.echo(f"review {review_id} {out['state']} (scope {out['scope']})")


@review_group.command("approve")
@click.argument("review_id")
@click.option("--reviewer", required=True, help="The privacy reviewer (not the submitter).")
@click.option("--valid-for", type=Duration(), default="365d", show_default=True, help="Approval lifetime.")
@click.option("--notes", default="", help="Conditions or findings.")
@pass_app
def review_approve(app: AppContext, review_id: str, reviewer: str, valid_for: float, notes: str) -> None:
    """Approve REVIEW_ID; the scope may then be activated until the approval expires."""
    _decide(app, review_id, True, reviewer, valid_for, notes)


@review_group.command("reject")
@click.argument("review_id")
@click.option("--reviewer", required=True, help="The privacy reviewer.")
@click.option("--notes", default="", help="Why.")
@pass_app
def review_reject(app: AppContext, review_id: str, reviewer: str, notes: str) -> None:
    """Reject REVIEW_ID."""
    _decide(app, review_id, False, reviewer, 0, notes)


@admin.command("pause-programme")
@click.option("--reason", required=True, help="Why (recorded in the audit log and shown to devices).")
@click.option("--by", help="Who pauses (default: your user name).")
@pass_app
def pause_programme(app: AppContext, reason: str, by: str | None) -> None:
    """Kill switch: every device stops capturing and uploading; landing data is quarantined."""
    with _collector(app) as svc:
        svc.pause_programme(reason, by=_me(by))
    click.echo("programme paused; devices stop within seconds; landing zone quarantined")


@admin.command("resume-programme")
@click.option("--by", help="Who resumes (default: your user name).")
@pass_app
def resume_programme(app: AppContext, by: str | None) -> None:
    """Undo pause-programme."""
    with _collector(app) as svc:
        svc.resume_programme(by=_me(by))
    click.echo("programme resumed")


@admin.command("consent")
@click.argument("state", type=click.Choice(["withdrawn", "given"]))
@click.option("--person", required=True, help="E-mail of the person.")
@click.option("--by", help="Who records it (default: your user name).")
@pass_app
def consent(app: AppContext, state: str, person: str, by: str | None) -> None:
    """Record a person's consent decision received outside the device (e.g. by e-mail)."""
    with _collector(app) as svc:
        svc.set_consent(person, state, "server", by=_me(by))
    click.echo(f"consent {state} recorded; that person's devices follow within seconds")


@admin.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def status(app: AppContext, as_json: bool) -> None:
    """Programme state, active scope, counts."""
    with _collector(app) as svc:
        data: dict[str, Any] = {"programme": svc.programme(), "active_scope": svc.active_scope(), **svc.counts(),
                                "landing_quarantined": svc.landing.quarantined()}
    if as_json:
        emit_json(data)
        return
    click.echo(f"programme: {data['programme']['state']} {data['programme']['reason']}")
    scope = data["active_scope"]
    click.echo(f"active scope: {scope['name'] + ' v' + str(scope['version']) if scope else 'none'}")
    click.echo(f"devices: {data['devices']}  landed segments: {data['landed']}  open uploads: {data['open_uploads']}")


@admin.command("landed")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def landed(app: AppContext, as_json: bool) -> None:
    """Segments in the landing zone (metadata only; the segments stay sealed)."""
    with _collector(app) as svc:
        rows = svc.landed_rows()
    for r in rows:
        for k, v in list(r.items()):
            if isinstance(v, datetime):
                r[k] = v.isoformat()
    if as_json:
        emit_json(rows)
        return
    for r in sorted(rows, key=lambda r: r["landed_at"]):
        click.echo(f"{r['segment_id']}  {r['size_bytes']:>10,} B  device {r['device_id']}  landed {r['landed_at']}")


COMMANDS = [admin]
