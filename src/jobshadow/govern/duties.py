"""Who may do what: roles, invitations, four-eyes requests and legal holds (curated zone).

* **Roles**: ``admin`` (enrolment, devices, scopes, programme), ``reviewer`` (privacy reviews,
  approving requests, resuming after an exposure finding), ``steward`` (grants, groups,
  declassifiers), ``researcher`` (queries and dataset builds within grants), ``auditor`` (audit,
  scan, read-only), ``dpo`` (subject export and erasure, legal holds). A person may hold several.
* **Invitations**: an administrator invites an e-mail address with roles; the one-time code (only
  its hash is stored) is redeemed by ``jobshadow login``, which registers that person's public key.
  ``jobshadow server init`` makes the first administrator's invitation, once.
* **Requests**: what one person may not do alone (a grant on sensitive labels, membership of a
  pipeline service group) is a request that someone else approves: never the requester.
* **Legal holds** keep a subject's identity link through an erasure.

Refusals are ``RequestRejected``; the door audits every decision.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from sqlalchemy import Column, Engine, Float, MetaData, String, Table, Text, UniqueConstraint, delete, insert, select
from sqlalchemy import update as sql_update

from jobshadow.dbengine import create_tables
from jobshadow.errors import RequestRejected
from jobshadow.govern.control.people import hash_code, new_code, normal_email
from jobshadow.govern.control.programme import iso, same_person
from jobshadow.govern.state import policy_version, principals

ROLES = ("admin", "reviewer", "steward", "researcher", "auditor", "dpo")

metadata = MetaData()

principal_roles = Table(
    "principal_roles", metadata,
    Column("principal", String(320), nullable=False),
    Column("role", String(32), nullable=False),
    Column("granted_by", String(320), nullable=False),
    Column("granted_at", Float, nullable=False),
    UniqueConstraint("principal", "role", name="uq_principal_role"),
)

invites = Table(
    "invites", metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("roles", Text, nullable=False),  # JSON list
    Column("created_by", String(320), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("used_at", Float),
)

four_eyes = Table(
    "requests", metadata,
    Column("id", String(16), primary_key=True),
    Column("kind", String(32), nullable=False),  # grant | membership
    Column("payload", Text, nullable=False),  # JSON: what is asked for
    Column("requested_by", String(320), nullable=False),
    Column("requested_at", Float, nullable=False),
    Column("state", String(16), nullable=False),  # pending | approved | rejected
    Column("decided_by", String(320)),
    Column("decided_at", Float),
    Column("outcome", Text, nullable=False, default=""),
)

legal_holds = Table(
    "legal_holds", metadata,
    Column("subject", String(64), primary_key=True),
    Column("reason", Text, nullable=False),
    Column("placed_by", String(320), nullable=False),
    Column("placed_at", Float, nullable=False),
)


def check_roles(roles: list[str]) -> list[str]:
    out = sorted(dict.fromkeys(r.strip() for r in roles if r.strip()))
    unknown = [r for r in out if r not in ROLES]
    if unknown or not out:
        raise RequestRejected(400, "invalid_roles", f"roles are some of {', '.join(ROLES)}")
    return out


class Duties:
    def __init__(self, engine: Engine, code_ttl: float) -> None:
        self.engine = engine
        self.code_ttl = code_ttl
        create_tables(engine, metadata)

    # --- roles ------------------------------------------------------------------------------------------
    def roles_of(self, principal: str) -> frozenset[str]:
        with self.engine.connect() as c:
            return frozenset(r.role for r in c.execute(select(principal_roles.c.role)
                                                       .where(principal_roles.c.principal == principal)))

    def people_with_roles(self) -> dict[str, list[str]]:
        with self.engine.connect() as c:
            rows = c.execute(select(principal_roles.c.principal, principal_roles.c.role)).all()
        out: dict[str, list[str]] = {}
        for r in rows:
            out.setdefault(r.principal, []).append(r.role)
        return {k: sorted(v) for k, v in sorted(out.items())}

    def set_roles(self, principal: str, roles: list[str], by: str) -> list[str]:
        wanted = check_roles(roles)
        with self.engine.begin() as c:
            c.execute(delete(principal_roles).where(principal_roles.c.principal == principal))
            for r in wanted:
                c.execute(insert(principal_roles).values(principal=principal, role=r, granted_by=by,
                                                         granted_at=time.time()))
        return wanted

    def has_admin(self) -> bool:
        with self.engine.connect() as c:
            held = c.execute(select(principal_roles.c.principal).where(principal_roles.c.role == "admin")).first()
            pending = c.execute(select(invites.c.roles).where(invites.c.used_at.is_(None),
                                                              invites.c.expires_at > time.time())).all()
        return held is not None or any("admin" in json.loads(r.roles) for r in pending)

    # --- invitations ------------------------------------------------------------------------------------
    def invite(self, email: str, roles: list[str], by: str) -> tuple[str, float]:
        email = normal_email(email)
        wanted = check_roles(roles)
        code = new_code()
        now = time.time()
        with self.engine.begin() as c:
            c.execute(insert(invites).values(code_hash=hash_code(code), email=email, roles=json.dumps(wanted),
                                             created_by=by, created_at=now, expires_at=now + self.code_ttl))
        return code, now + self.code_ttl

    def redeem(self, code: str, public_key_hex: str) -> tuple[str, list[str]]:
        """Register the key of the invited person; their principal and roles. One transaction."""
        try:
            if len(bytes.fromhex(public_key_hex)) != 32:
                raise ValueError
        except ValueError:
            raise RequestRejected(400, "invalid_key", "the public key is 64 hex characters (raw Ed25519)") from None
        now = time.time()
        with self.engine.begin() as c:
            row = c.execute(select(invites).where(invites.c.code_hash == hash_code(code))).first()
            if row is None:
                raise RequestRejected(403, "invalid_code", "unknown login code")
            if row.used_at is not None:
                raise RequestRejected(403, "code_used", "this login code was already used")
            if row.expires_at < now:
                raise RequestRejected(403, "code_expired", "this login code has expired")
            done = c.execute(sql_update(invites).where(invites.c.code_hash == row.code_hash,
                                                       invites.c.used_at.is_(None)).values(used_at=now))
            if done.rowcount != 1:
                raise RequestRejected(403, "code_used", "this login code was already used")
            pid = f"person:{row.email}"
            roles = list(json.loads(row.roles))
            if c.execute(select(principals.c.id).where(principals.c.id == pid)).first() is None:
                c.execute(insert(principals).values(id=pid, kind="person", public_key=public_key_hex, created_at=now))
            else:  # a new machine: the new key replaces the old one
                c.execute(sql_update(principals).where(principals.c.id == pid).values(public_key=public_key_hex))
            c.execute(delete(principal_roles).where(principal_roles.c.principal == pid))
            for r in roles:
                c.execute(insert(principal_roles).values(principal=pid, role=r, granted_by=row.created_by,
                                                         granted_at=now))
            c.execute(sql_update(policy_version).values(version=policy_version.c.version + 1))
        return pid, roles

    # --- four-eyes requests -----------------------------------------------------------------------------
    def request(self, kind: str, payload: dict[str, Any], by: str) -> str:
        rid = secrets.token_hex(6)
        with self.engine.begin() as c:
            c.execute(insert(four_eyes).values(id=rid, kind=kind, payload=json.dumps(payload, sort_keys=True),
                                              requested_by=by, requested_at=time.time(), state="pending"))
        return rid

    def requests(self, state: str | None = "pending") -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            q = select(four_eyes).order_by(four_eyes.c.requested_at.desc())
            if state is not None:
                q = q.where(four_eyes.c.state == state)
            rows = c.execute(q).all()
        return [{"request": r.id, "kind": r.kind, **json.loads(r.payload), "requested_by": r.requested_by,
                 "requested_at": iso(r.requested_at), "state": r.state, "decided_by": r.decided_by,
                 "outcome": r.outcome} for r in rows]

    def decide(self, request_id: str, approve: bool, by: str) -> tuple[str, dict[str, Any]]:
        """Mark a pending request decided by ``by`` (never its requester): (kind, payload)."""
        with self.engine.begin() as c:
            row = c.execute(select(four_eyes).where(four_eyes.c.id == request_id)).first()
            if row is None:
                raise RequestRejected(404, "unknown_request", f"no request {request_id!r}")
            if row.state != "pending":
                raise RequestRejected(409, "request_decided", f"request {request_id} is already {row.state}")
            if same_person(by, row.requested_by):
                raise RequestRejected(403, "self_approval", "nobody approves their own request")
            c.execute(sql_update(four_eyes).where(four_eyes.c.id == request_id).values(
                state="approved" if approve else "rejected", decided_by=by, decided_at=time.time()))
        return str(row.kind), dict(json.loads(row.payload))

    def record_outcome(self, request_id: str, outcome: str) -> None:
        with self.engine.begin() as c:
            c.execute(sql_update(four_eyes).where(four_eyes.c.id == request_id).values(outcome=outcome[:2000]))

    # --- legal holds ------------------------------------------------------------------------------------
    def place_hold(self, subject: str, reason: str, by: str) -> None:
        if not reason.strip():
            raise RequestRejected(400, "reason_required", "a legal hold needs a reason")
        with self.engine.begin() as c:
            c.execute(delete(legal_holds).where(legal_holds.c.subject == subject))
            c.execute(insert(legal_holds).values(subject=subject, reason=reason[:2000], placed_by=by,
                                                 placed_at=time.time()))

    def release_hold(self, subject: str) -> None:
        with self.engine.begin() as c:
            if c.execute(delete(legal_holds).where(legal_holds.c.subject == subject)).rowcount == 0:
                raise RequestRejected(404, "no_hold", "no legal hold on this subject")

    def held(self, subject: str) -> bool:
        with self.engine.connect() as c:
            return c.execute(select(legal_holds.c.subject).where(legal_holds.c.subject == subject)).first() is not None

    def holds(self) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            rows = c.execute(select(legal_holds)).all()
        return [{"subject": r.subject, "reason": r.reason, "placed_by": r.placed_by, "placed_at": iso(r.placed_at)}
                for r in rows]
