"""Operations on the governed lake: grants and requests, groups, audit, subject rights, curation, datasets.

Argument wiring only (door process): the rules are the door's. Paths a request names (a dataset's
folder) are on the server host, where the dataset registry can reach them for erasure; a subject
export is built there in a private folder and streamed back as a tar archive, then removed.
"""

from __future__ import annotations

import io
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from jobshadow.api.ops import Ctx, Stream, op
from jobshadow.errors import ConfigError, RequestRejected


class GrantArgs(msgspec.Struct, forbid_unknown_fields=True):
    principal: str
    action: str
    table: str
    purpose: str
    valid_for: float
    note: str = ""


class GrantId(msgspec.Struct, forbid_unknown_fields=True):
    grant: str


class ShowAll(msgspec.Struct, forbid_unknown_fields=True):
    all: bool = False


class RequestList(msgspec.Struct, forbid_unknown_fields=True):
    state: str | None = "pending"


class RequestDecision(msgspec.Struct, forbid_unknown_fields=True):
    request: str
    approve: bool


class PrincipalArgs(msgspec.Struct, forbid_unknown_fields=True):
    principal: str
    person: str | None = None


class Member(msgspec.Struct, forbid_unknown_fields=True):
    member: str
    group: str


class Declassifier(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    removes: list[str]
    description: str


class Retention(msgspec.Struct, forbid_unknown_fields=True):
    now: str | None = None
    apply: bool = False


class Verify(msgspec.Struct, forbid_unknown_fields=True):
    quorum: int | None = None


class Who(msgspec.Struct, forbid_unknown_fields=True):
    table: str | None = None
    subject: str | None = None
    since: str | None = None
    principal: str | None = None
    denied: bool = False
    limit: int = 1000


class Subject(msgspec.Struct, forbid_unknown_fields=True):
    who: str


class Hold(msgspec.Struct, forbid_unknown_fields=True):
    who: str
    reason: str


class Curate(msgspec.Struct, forbid_unknown_fields=True):
    limit: int | None = None


class Build(msgspec.Struct, forbid_unknown_fields=True):
    fmt: str
    out: str
    purpose: str = "model_training"
    name: str | None = None
    engine: str | None = None
    image_format: str | None = None


def _findings(findings: list[Any]) -> list[dict[str, Any]]:
    return [vars(f) for f in findings]


def subject_of(ctx: Ctx, who: str) -> str:
    """A subject id from an e-mail address, a person id or a subject id (``s_…``)."""
    from jobshadow.govern import resolve_subject

    if "@" in who:
        who = ctx.gov.people.person_id(who)
    return resolve_subject(ctx.gov, who)


# --- grants, requests, groups, declassifiers -------------------------------------------------------------
@op("govern.grant", "steward", args=GrantArgs)
def grant(ctx: Ctx, a: GrantArgs) -> dict[str, Any]:
    """A time-limited grant; on sensitive labels, a request another person approves."""
    out = ctx.gov.request_grant(a.principal, a.action, a.table, a.purpose, a.valid_for, ctx.principal, a.note)
    g = out["grant"]
    return {"grant": g.id if g else None, "expires": g.expires_at if g else None, "request": out["request"],
            "findings": _findings(out["findings"])}


@op("govern.revoke", "steward", args=GrantId)
def revoke(ctx: Ctx, a: GrantId) -> dict[str, Any]:
    """Revoke a grant at once."""
    return {"grant": a.grant, "findings": _findings(ctx.gov.revoke(a.grant, ctx.principal))}


@op("govern.grants", "steward", "reviewer", "auditor", args=ShowAll)
def grants(ctx: Ctx, a: ShowAll) -> list[dict[str, Any]]:
    """Active grants (with --all, expired ones too)."""
    return [{"id": g.id, "principal": g.principal, "action": g.action, "table": g.resource, "purpose": g.purpose,
             "expires": g.expires_at, "by": g.created_by}
            for g in ctx.gov.state.grants(active_at=None if a.all else time.time())]


@op("govern.requests", "reviewer", "steward", "auditor", args=RequestList)
def requests(ctx: Ctx, a: RequestList) -> list[dict[str, Any]]:
    """Requests waiting for (or given) another person's approval."""
    return ctx.gov.duties.requests(a.state)


@op("govern.request.decide", "reviewer", args=RequestDecision)
def decide(ctx: Ctx, a: RequestDecision) -> dict[str, Any]:
    """Approve or reject a request (never your own); approval carries it out."""
    return ctx.gov.decide_request(a.request, a.approve, ctx.principal)


@op("govern.principal.add", "steward", args=PrincipalArgs)
def principal_add(ctx: Ctx, a: PrincipalArgs) -> dict[str, Any]:
    """Register a person, service or group (a person may be linked to their own data)."""
    person_id = ctx.gov.people.person_id(a.person) if a.person else None
    return {"principal": a.principal,
            "findings": _findings(ctx.gov.add_principal(a.principal, ctx.principal, person_id=person_id))}


@op("govern.principal.list", "steward", "auditor")
def principal_list(ctx: Ctx, _: Any) -> list[dict[str, Any]]:
    """Principals with their groups and group sizes."""
    sizes = ctx.gov.state.group_sizes()
    return [{"id": p["id"], "groups": ",".join(p["groups"]), "members": sizes.get(p["id"], ""),
             "logs_in": bool(p["public_key"])} for p in ctx.gov.state.principals()]


@op("govern.member.add", "steward", args=Member)
def member_add(ctx: Ctx, a: Member) -> dict[str, Any]:
    """Put a member in a group (a pipeline service group: a request another person approves)."""
    out = ctx.gov.request_member(a.member, a.group, ctx.principal)
    return {"request": out["request"], "findings": _findings(out["findings"])}


@op("govern.member.remove", "steward", args=Member)
def member_remove(ctx: Ctx, a: Member) -> dict[str, Any]:
    """Take a member out of a group."""
    return {"findings": _findings(ctx.gov.remove_member(a.member, a.group, ctx.principal))}


@op("govern.declassifier", "steward", args=Declassifier)
def declassifier(ctx: Ctx, a: Declassifier) -> dict[str, Any]:
    """Register a declassifier."""
    return {"findings": _findings(ctx.gov.register_declassifier(a.name, a.removes, a.description, ctx.principal))}


@op("govern.tables", "steward", "researcher", "reviewer", "auditor")
def tables(ctx: Ctx, _: Any) -> list[dict[str, Any]]:
    """Every table with its labels, sealed columns and lineage."""
    out = []
    for name in ctx.gov.labelled_tables():
        d = ctx.gov.tables.definition(name)
        out.append({"table": name, "labels": ",".join(sorted(d.labels)),
                    "sealed": ",".join(c.name for c in d.sealed), "derived_from": ",".join(ctx.gov.lineage(name))})
    return out


@op("govern.scan", "auditor", "steward")
def scan(ctx: Ctx, _: Any) -> dict[str, Any]:
    """The exposure scan; a finding pauses the programme and reads through the door."""
    findings = ctx.gov.scan()
    ctx.gov._administer(ctx.principal, "scan", "table:*", {"findings": len(findings)})
    if findings:
        ctx.gov.exposure_found(findings)
    return {"ok": not findings, "findings": _findings(findings)}


@op("govern.retention", "admin", "dpo", "auditor", args=Retention)
def retention(ctx: Ctx, a: Retention) -> dict[str, Any]:
    """What retention would shred (at a simulated time), or shred it (apply, admin or DPO, now)."""
    from jobshadow.govern import enforce_retention

    if a.apply and not ctx.roles & {"admin", "dpo"}:
        raise RequestRejected(403, "role_required", "shredding needs the admin or dpo role")
    if a.apply and a.now:
        raise RequestRejected(400, "invalid_arguments", "retention is applied at the real time only")
    now = None
    if a.now:
        try:
            now = datetime.fromisoformat(a.now.replace("Z", "+00:00"))
        except ValueError:
            raise RequestRejected(400, "invalid_arguments", f"{a.now!r} is not an ISO 8601 time") from None
        now = now if now.tzinfo else now.replace(tzinfo=UTC)
    return enforce_retention(ctx.gov, now, by=ctx.principal, apply=a.apply).as_json()


# --- audit --------------------------------------------------------------------------------------------------
@op("audit.verify", "auditor", args=Verify)
def audit_verify(ctx: Ctx, a: Verify) -> dict[str, Any]:
    """Recompute the Merkle tree; check heads, published copies and witnesses."""
    report = ctx.gov.verify_audit(quorum=a.quorum)
    return {**report.as_json(), "summary": report.summary()}


@op("audit.key", "auditor")
def audit_key(ctx: Ctx, _: Any) -> dict[str, Any]:
    """The audit log's verifier key, for the witnesses."""
    from jobshadow.govern import log_key

    return {"verifier_key": log_key(ctx.gov.storage)}


@op("audit.who", "auditor", "dpo", args=Who)
def audit_who(ctx: Ctx, a: Who) -> list[dict[str, Any]]:
    """Who read what, for which purpose, and what was refused: newest first."""
    from jobshadow.govern import format_time

    since = None
    if a.since:
        try:
            when = datetime.fromisoformat(a.since.replace("Z", "+00:00"))
        except ValueError:
            raise RequestRejected(400, "invalid_arguments", f"{a.since!r} is not an ISO 8601 time") from None
        since = format_time(when if when.tzinfo else when.replace(tzinfo=UTC))
    subject = subject_of(ctx, a.subject) if a.subject and not a.subject.startswith("s_") else a.subject
    found = ctx.gov.audit_records(table=a.table, subject=subject, since=since, principal=a.principal,
                                  decision="deny" if a.denied else None)
    newest = sorted(found, key=lambda x: x[0], reverse=True)[:max(1, min(a.limit, 100_000))]
    return [{"index": i, "time": r.time, "principal": r.principal, "action": r.action, "resource": r.resource,
             "purpose": r.purpose, "decision": r.decision, "subject": r.subject, "reason": r.reason,
             "policies": ",".join(r.policy_ids)} for i, r in newest]


# --- subject rights -----------------------------------------------------------------------------------------
@op("subject.erase", "dpo", args=Subject)
def subject_erase(ctx: Ctx, a: Subject) -> dict[str, Any]:
    """Erase a person: key destroyed, rows and files deleted, datasets rewritten, enrolment ended."""
    from jobshadow.govern import erase_subject

    return erase_subject(ctx.gov, subject_of(ctx, a.who), ctx.principal).as_json()


@op("subject.export", "dpo", args=Subject)
def subject_export(ctx: Ctx, a: Subject) -> Stream:
    """Everything held about a person, with purposes, recipients and retention (a tar stream)."""
    from jobshadow.govern import export_subject

    subject = subject_of(ctx, a.who)
    root = Path(tempfile.mkdtemp(prefix="export-", dir=ctx.gov.storage.paths.staging))
    try:
        out = root / subject
        export_subject(ctx.gov, subject, out, ctx.principal)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(out, arcname=".")
    finally:
        shutil.rmtree(root, ignore_errors=True)

    def chunks() -> Iterator[bytes]:
        view = buf.getbuffer()
        for i in range(0, len(view), 1 << 20):
            yield bytes(view[i:i + (1 << 20)])

    return Stream("application/x-tar", chunks(), {"X-Jobshadow-Subject": subject})


@op("subject.hold", "dpo", args=Hold)
def subject_hold(ctx: Ctx, a: Hold) -> dict[str, Any]:
    """Place a legal hold: an erasure keeps the person's identity link."""
    subject = subject_of(ctx, a.who)
    ctx.gov.duties.place_hold(subject, a.reason, ctx.principal)
    ctx.gov._administer(ctx.principal, "hold.place", f"subject:{subject}", {"reason": a.reason[:200]})
    return {"subject": subject, "held": True}


@op("subject.release", "dpo", args=Subject)
def subject_release(ctx: Ctx, a: Subject) -> dict[str, Any]:
    """Release a legal hold."""
    subject = subject_of(ctx, a.who)
    ctx.gov.duties.release_hold(subject)
    ctx.gov._administer(ctx.principal, "hold.release", f"subject:{subject}", {})
    return {"subject": subject, "held": False}


# --- curation and datasets ----------------------------------------------------------------------------------
@op("curate.run", "admin", args=Curate)
def curate_run(ctx: Ctx, a: Curate) -> dict[str, Any]:
    """Curate every landed segment not curated yet (idempotent)."""
    from jobshadow.curate import curate

    ctx.gov._administer(ctx.principal, "curate.run", "table:landing.segments", {"limit": a.limit or 0})
    return asdict(curate(ctx.gov, limit=a.limit))


@op("dataset.build", "researcher", args=Build)
def dataset_build(ctx: Ctx, a: Build) -> dict[str, Any]:
    """Build a dataset from the lake as the asking researcher, within their grants (on the server host)."""
    from jobshadow.datasets.build import BuildOptions, build
    from jobshadow.datasets.reduce import Thresholds
    from jobshadow.datasets.sources import GovernedSource
    from jobshadow.datasets.trajectory import TaskThresholds

    out = Path(a.out)
    if not out.is_absolute():
        raise RequestRejected(400, "invalid_arguments", "the dataset folder must be an absolute path on the server")
    s = ctx.settings.datasets
    options = BuildOptions(
        fmt=a.fmt, out=out, purpose=a.purpose, principal=ctx.principal, name=a.name,
        image_format=a.image_format or s.image_format, engine=a.engine or s.engine,
        thresholds=Thresholds(write_gap_s=float(s.write_gap)),
        task_thresholds=TaskThresholds(idle_gap_s=float(s.idle_gap), app_switch_min_s=float(s.app_switch_min),
                                       wait_gap_s=float(s.wait_gap)))
    try:
        report = build(GovernedSource(ctx.gov, ctx.principal, a.purpose), options, ctx.gov)
    except ConfigError as exc:
        raise RequestRejected(400, "refused", str(exc)) from None
    return asdict(report)


@op("dataset.list", "researcher", "auditor", "dpo")
def dataset_list(ctx: Ctx, _: Any) -> list[dict[str, Any]]:
    """Datasets built from the lake: where, format, purpose, builder, state."""
    from jobshadow.govern import DatasetRegistry

    return [e.as_json() for e in DatasetRegistry(ctx.gov).entries()]
