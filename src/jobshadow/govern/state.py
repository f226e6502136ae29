"""Governance state: principals, groups, grants, declassifiers (curated zone).

SQLAlchemy Core (SQLite by default, PostgreSQL by URL). Every change bumps ``policy_version`` so
long-lived policy engines reload, and the exposure scan runs after every grant change.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from jobshadow.dbengine import sql_engine
from jobshadow.errors import ConfigError
from jobshadow.govern.purposes import registry

metadata = MetaData()

principals = Table(
    "principals", metadata,
    Column("id", String(320), primary_key=True),  # "person:dana@example.com", "service:x", "group:y"
    Column("kind", String(16), nullable=False),
    Column("subject", String(64)),  # a person's own pseudonymous subject id (for subject access)
    Column("public_key", String(64)),  # hex Ed25519 key for the HTTP query API
    Column("created_at", Float, nullable=False),
)

memberships = Table(
    "memberships", metadata,
    Column("member", String(320), nullable=False),
    Column("group_id", String(320), nullable=False),
    UniqueConstraint("member", "group_id", name="uq_membership"),
)

grants = Table(
    "grants", metadata,
    Column("id", String(16), primary_key=True),
    Column("principal", String(320), nullable=False),
    Column("action", String(16), nullable=False),
    Column("resource", String(200), nullable=False),
    Column("purpose", String(64), nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("created_by", String(320), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
    Column("note", Text, nullable=False, default=""),
)

declassifiers = Table(
    "declassifiers", metadata,
    Column("name", String(100), primary_key=True),
    Column("removes", Text, nullable=False),  # JSON list of labels it may remove
    Column("description", Text, nullable=False),
    Column("registered_by", String(320), nullable=False),
    Column("registered_at", Float, nullable=False),
)

export_log = Table(
    "exports", metadata,
    Column("id", String(16), primary_key=True),
    Column("kind", String(32), nullable=False),  # subject_export, dataset
    Column("location", Text, nullable=False),
    Column("principal", String(320), nullable=False),
    Column("purpose", String(64), nullable=False),
    Column("labels", Text, nullable=False),  # JSON list
    Column("created_at", Float, nullable=False),
)

principal_nonces = Table(
    "principal_nonces", metadata,
    Column("principal", String(320), nullable=False),
    Column("nonce", String(64), nullable=False),
    Column("seen_at", Float, nullable=False),
    UniqueConstraint("principal", "nonce", name="uq_principal_nonce"),
)

policy_version = Table(
    "policy_version", metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
)

ACTIONS = ("read", "write", "export", "administer")
_PRINCIPAL = re.compile(r"^(person|service|group):[A-Za-z0-9._@+\-]{1,300}$|^\*$")
_RESOURCE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Grant:
    id: str
    principal: str
    action: str
    resource: str
    purpose: str
    expires_at: float
    created_by: str


class GovernState:
    def __init__(self, url: str) -> None:
        self.engine: Engine = sql_engine(url, metadata)
        try:
            with self.engine.begin() as c:
                if c.execute(select(policy_version.c.id)).first() is None:
                    c.execute(insert(policy_version).values(id=1, version=1))
        except IntegrityError:
            pass  # another process made the first row at the same moment

    def close(self) -> None:
        self.engine.dispose()

    def version(self) -> int:
        with self.engine.connect() as c:
            return int(c.execute(select(policy_version.c.version)).scalar_one())

    def _bump(self, c: Any) -> None:
        c.execute(update(policy_version).values(version=policy_version.c.version + 1))

    # --- principals and groups ---------------------------------------------------------------------
    def add_principal(self, pid: str, *, subject: str | None = None, public_key: str | None = None) -> None:
        if not _PRINCIPAL.match(pid) or pid == "*":
            raise ConfigError(f"principal {pid!r} must look like person:<email>, service:<name> or group:<name>")
        kind = pid.split(":", 1)[0]
        with self.engine.begin() as c:
            row = c.execute(select(principals.c.id).where(principals.c.id == pid)).first()
            if row is None:
                c.execute(insert(principals).values(id=pid, kind=kind, subject=subject, public_key=public_key,
                                                    created_at=time.time()))
            else:
                values: dict[str, Any] = {}
                if subject is not None:
                    values["subject"] = subject
                if public_key is not None:
                    values["public_key"] = public_key
                if values:
                    c.execute(update(principals).where(principals.c.id == pid).values(**values))
            self._bump(c)

    def add_member(self, member: str, group: str) -> None:
        if not group.startswith("group:"):
            raise ConfigError("memberships are in groups (group:<name>)")
        if member == group or (member.startswith("group:") and member in self._ancestors(group)):
            raise ConfigError(f"{group} is already inside {member}: groups cannot contain each other")
        self.add_principal(member)
        self.add_principal(group)
        with self.engine.begin() as c:
            exists = c.execute(select(memberships.c.member).where(memberships.c.member == member,
                                                                   memberships.c.group_id == group)).first()
            if exists is None:
                c.execute(insert(memberships).values(member=member, group_id=group))
            self._bump(c)

    def _ancestors(self, group: str) -> set[str]:
        """Every group ``group`` is (transitively) a member of."""
        with self.engine.connect() as c:
            rows = c.execute(select(memberships)).all()
        parents: dict[str, set[str]] = {}
        for m in rows:
            parents.setdefault(m.member, set()).add(m.group_id)
        seen: set[str] = set()
        todo = [group]
        while todo:
            for p in parents.get(todo.pop(), ()):
                if p not in seen:
                    seen.add(p)
                    todo.append(p)
        return seen

    def remove_member(self, member: str, group: str) -> None:
        from sqlalchemy import delete

        with self.engine.begin() as c:
            res = c.execute(delete(memberships).where(memberships.c.member == member, memberships.c.group_id == group))
            if res.rowcount == 0:
                raise ConfigError(f"{member} is not a member of {group}")
            self._bump(c)

    def principal(self, pid: str) -> dict[str, Any] | None:
        for p in self.principals():
            if p["id"] == pid:
                return p
        return None

    def use_nonce(self, principal: str, nonce: str, now: float, horizon: float) -> bool:
        """Remember a signed request's nonce; False if it was seen before (a replay)."""
        from sqlalchemy import delete
        from sqlalchemy.exc import IntegrityError

        try:
            with self.engine.begin() as c:
                c.execute(delete(principal_nonces).where(principal_nonces.c.seen_at < now - horizon))
                c.execute(insert(principal_nonces).values(principal=principal, nonce=nonce, seen_at=now))
        except IntegrityError:
            return False
        return True

    def principals(self) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            rows = c.execute(select(principals)).all()
            mem = c.execute(select(memberships)).all()
        groups: dict[str, list[str]] = {}
        for m in mem:
            groups.setdefault(m.member, []).append(m.group_id)
        return [{"id": r.id, "kind": r.kind, "subject": r.subject, "public_key": r.public_key,
                 "groups": sorted(groups.get(r.id, []))} for r in rows]

    def group_sizes(self) -> dict[str, int]:
        """Members per group, counting people through nested groups."""
        with self.engine.connect() as c:
            mem = c.execute(select(memberships)).all()
        children: dict[str, set[str]] = {}
        for m in mem:
            children.setdefault(m.group_id, set()).add(m.member)

        def people(group: str, seen: frozenset[str]) -> set[str]:
            out: set[str] = set()
            for member in children.get(group, ()):
                if member.startswith("group:"):
                    if member not in seen:
                        out |= people(member, seen | {member})
                else:
                    out.add(member)
            return out

        return {g: len(people(g, frozenset({g}))) for g in children}

    # --- grants ---------------------------------------------------------------------------------------
    def grant(self, principal: str, action: str, resource: str, purpose: str, valid_for: float, by: str,
              note: str = "") -> Grant:
        """A time-limited grant for one purpose; forbidden purposes can never be granted."""
        reg = registry()
        reg.check_purpose(purpose)
        if action not in ACTIONS:
            raise ConfigError(f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
        if not _PRINCIPAL.match(principal):
            raise ConfigError(f"principal {principal!r} must look like person:<email>, service:<name>, "
                              "group:<name> (or * for everyone, which the exposure scan flags)")
        if not _RESOURCE.match(resource):
            raise ConfigError(f"resource {resource!r} must be a table such as curated.events")
        if not 0 < valid_for <= 366 * 86400:
            raise ConfigError("a grant must expire, within a year")
        if principal != "*":
            self.add_principal(principal)
        g = Grant(secrets.token_hex(6), principal, action, resource, purpose, time.time() + valid_for, by)
        with self.engine.begin() as c:
            c.execute(insert(grants).values(id=g.id, principal=principal, action=action, resource=resource,
                                            purpose=purpose, expires_at=g.expires_at, created_by=by,
                                            created_at=time.time(), note=note[:2000]))
            self._bump(c)
        return g

    def revoke_grant(self, grant_id: str) -> None:
        with self.engine.begin() as c:
            res = c.execute(update(grants).where(grants.c.id == grant_id, grants.c.revoked_at.is_(None))
                            .values(revoked_at=time.time()))
            if res.rowcount == 0:
                raise ConfigError(f"no active grant {grant_id!r}")
            self._bump(c)

    def grants(self, *, active_at: float | None = None) -> list[Grant]:
        with self.engine.connect() as c:
            rows = c.execute(select(grants).where(grants.c.revoked_at.is_(None))).all()
        out = [Grant(r.id, r.principal, r.action, r.resource, r.purpose, r.expires_at, r.created_by) for r in rows]
        if active_at is not None:
            out = [g for g in out if g.expires_at > active_at]
        return out

    # --- exports (everything that left the lake, so the exposure scan can check it) --------------
    def record_export(self, kind: str, location: str, principal: str, purpose: str, labels: list[str]) -> str:
        export_id = secrets.token_hex(6)
        with self.engine.begin() as c:
            c.execute(insert(export_log).values(id=export_id, kind=kind, location=location, principal=principal,
                                             purpose=purpose, labels=json.dumps(sorted(labels)),
                                             created_at=time.time()))
        return export_id

    def exports(self) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            rows = c.execute(select(export_log)).all()
        return [{"id": r.id, "kind": r.kind, "location": r.location, "principal": r.principal,
                 "purpose": r.purpose, "labels": json.loads(r.labels), "created_at": r.created_at} for r in rows]

    # --- declassifiers --------------------------------------------------------------------------------
    def register_declassifier(self, name: str, removes: list[str], description: str, by: str) -> None:
        registry().check_labels(removes)
        if not re.fullmatch(r"[a-z][a-z0-9_.-]{1,99}", name):
            raise ConfigError("declassifier names are lower-case identifiers")
        with self.engine.begin() as c:
            c.execute(insert(declassifiers).values(name=name, removes=json.dumps(sorted(removes)),
                                                   description=description, registered_by=by,
                                                   registered_at=time.time()))
            self._bump(c)

    def declassifier(self, name: str) -> frozenset[str] | None:
        with self.engine.connect() as c:
            row = c.execute(select(declassifiers.c.removes).where(declassifiers.c.name == name)).first()
        return None if row is None else frozenset(json.loads(row.removes))
