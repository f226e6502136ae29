"""Operations on the programme: people and roles, devices, scopes and reviews, the kill switch, consent.

Argument wiring only (door process): the rules are the door's (``jobshadow.govern``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from jobshadow.api.ops import ANYONE, Ctx, op
from jobshadow.errors import RequestRejected


class Email(msgspec.Struct, forbid_unknown_fields=True):
    email: str


class Invite(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    roles: list[str]


class DeviceArg(msgspec.Struct, forbid_unknown_fields=True):
    device_id: str


class ScopeDef(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    definition: dict[str, Any]


class ScopeName(msgspec.Struct, forbid_unknown_fields=True):
    name: str


class Submit(msgspec.Struct, forbid_unknown_fields=True):
    scope: str
    notes: str = ""


class ReviewList(msgspec.Struct, forbid_unknown_fields=True):
    state: str | None = None


class ReviewId(msgspec.Struct, forbid_unknown_fields=True):
    review: str


class Decision(msgspec.Struct, forbid_unknown_fields=True):
    review: str
    approve: bool
    valid_for: float = 365 * 86400.0
    notes: str = ""


class Pause(msgspec.Struct, forbid_unknown_fields=True):
    reason: str


class Consent(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    state: str


@op("whoami", ANYONE)
def whoami(ctx: Ctx, _: Any) -> dict[str, Any]:
    """Who the server takes you for, and your roles."""
    return {"principal": ctx.principal, "roles": sorted(ctx.roles)}


@op("admin.invite", "admin", args=Invite)
def invite(ctx: Ctx, a: Invite) -> dict[str, Any]:
    """Invite a person with roles: a one-time code for `jobshadow login`."""
    code, expires = ctx.gov.duties.invite(a.email, a.roles, ctx.principal)
    ctx.gov._administer(ctx.principal, "person.invite", f"person:{a.email.strip().lower()}",
                        {"roles": ",".join(sorted(a.roles))})
    return {"code": code, "expires": expires, "roles": sorted(set(a.roles))}


@op("admin.people", "admin", "auditor")
def people(ctx: Ctx, _: Any) -> list[dict[str, Any]]:
    """People who can log in, with their roles."""
    return [{"principal": p, "roles": r} for p, r in ctx.gov.duties.people_with_roles().items()]


@op("admin.roles", "admin", args=Invite)
def set_roles(ctx: Ctx, a: Invite) -> dict[str, Any]:
    """Change a person's roles."""
    pid = f"person:{a.email.strip().lower()}"
    if ctx.gov.state.principal(pid) is None:
        raise RequestRejected(404, "unknown_person", f"{pid} never logged in; invite them")
    roles = ctx.gov.duties.set_roles(pid, a.roles, ctx.principal)
    ctx.gov._administer(ctx.principal, "person.roles", pid, {"roles": ",".join(roles)})
    return {"principal": pid, "roles": roles}


@op("admin.enroll_code", "admin", args=Email)
def enroll_code(ctx: Ctx, a: Email) -> dict[str, Any]:
    """A one-time enrolment code for a device of this person."""
    code, expires = ctx.gov.programme.create_enroll_code(a.email, ctx.principal)
    return {"code": code, "expires": expires}


@op("admin.device.list", "admin", "auditor")
def device_list(ctx: Ctx, _: Any) -> list[dict[str, Any]]:
    """Enrolled devices and whom they belong to."""
    return ctx.gov.programme.devices()


@op("admin.device.revoke", "admin", args=DeviceArg)
def device_revoke(ctx: Ctx, a: DeviceArg) -> dict[str, Any]:
    """Revoke a device: every further request from it is refused."""
    ctx.gov.programme.revoke_device(a.device_id, ctx.principal)
    return {"device_id": a.device_id, "revoked": True}


@op("admin.scope.create", "admin", args=ScopeDef)
def scope_create(ctx: Ctx, a: ScopeDef) -> dict[str, Any]:
    """Define (or redefine) a scope; checked now: purposes, streams, app patterns."""
    return ctx.gov.programme.create_scope(a.name, a.definition, ctx.principal)


@op("admin.scope.list", "admin", "reviewer", "auditor")
def scope_list(ctx: Ctx, _: Any) -> list[dict[str, Any]]:
    """Scopes, their state and the state of their privacy review."""
    return ctx.gov.programme.scopes()


@op("admin.scope.activate", "admin", args=ScopeName)
def scope_activate(ctx: Ctx, a: ScopeName) -> dict[str, Any]:
    """Activate a scope (refused without an approved, unexpired review of its exact version)."""
    ctx.gov.programme.activate_scope(a.name, ctx.principal)
    return {"name": a.name, "state": "active"}


@op("admin.scope.deactivate", "admin", args=ScopeName)
def scope_deactivate(ctx: Ctx, a: ScopeName) -> dict[str, Any]:
    """Deactivate a scope: devices capture nothing until one is active again."""
    ctx.gov.programme.deactivate_scope(a.name, ctx.principal)
    return {"name": a.name, "state": "inactive"}


@op("admin.review.submit", "admin", args=Submit)
def review_submit(ctx: Ctx, a: Submit) -> dict[str, Any]:
    """Submit the current version of a scope for privacy review."""
    return {"review": ctx.gov.programme.submit_review(a.scope, ctx.principal, a.notes)}


@op("admin.review.list", "reviewer", "admin", "auditor", args=ReviewList)
def review_list(ctx: Ctx, a: ReviewList) -> list[dict[str, Any]]:
    """Privacy reviews, each with exactly what it approves."""
    return ctx.gov.programme.reviews(a.state)


@op("admin.review.show", "reviewer", "admin", "auditor", args=ReviewId)
def review_show(ctx: Ctx, a: ReviewId) -> dict[str, Any]:
    """One review: the scope version, its author, the change from the previous version."""
    return ctx.gov.programme.review(a.review)


@op("admin.review.decide", "reviewer", args=Decision)
def review_decide(ctx: Ctx, a: Decision) -> dict[str, Any]:
    """Approve or reject a review (never one of your own scope or submission)."""
    return ctx.gov.programme.decide_review(a.review, a.approve, ctx.principal, a.valid_for, a.notes)


@op("admin.programme.pause", "admin", "reviewer", "dpo", args=Pause)
def pause(ctx: Ctx, a: Pause) -> dict[str, Any]:
    """The kill switch: devices stop capturing and uploading, landing is quarantined."""
    ctx.gov.programme.pause_programme(a.reason, ctx.principal)
    return ctx.gov.programme.programme()


@op("admin.programme.resume", "admin", "reviewer")
def resume(ctx: Ctx, _: Any) -> dict[str, Any]:
    """Undo a pause (after an exposure finding: a reviewer only)."""
    ctx.gov.programme.resume_programme(ctx.principal, as_reviewer="reviewer" in ctx.roles)
    return ctx.gov.programme.programme()


@op("admin.consent", "admin", "dpo", args=Consent)
def consent(ctx: Ctx, a: Consent) -> dict[str, Any]:
    """Record a consent decision received outside the device."""
    ctx.gov.programme.set_consent(a.email, a.state, "server", ctx.principal)
    return {"email": a.email, "state": a.state}


@op("admin.status", "admin", "reviewer", "auditor", "dpo")
def status(ctx: Ctx, _: Any) -> dict[str, Any]:
    """Programme state, active scope, counts."""
    return ctx.gov.programme.status()


@op("admin.landed", "admin", "auditor")
def landed(ctx: Ctx, _: Any) -> list[dict[str, Any]]:
    """Segments in the landing zone (metadata only; the segments stay sealed)."""
    rows = ctx.gov.programme.landed()
    return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()} for r in rows]
