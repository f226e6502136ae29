"""The programme's levers: kill switch, consent, scopes and their privacy reviews (curated zone).

``ProgrammeState`` is plain state with its rules (no audit, no keys): the governance door wraps
each change with the authenticated person and an audit record; the collector reads what devices
must obey (``device_view``) and records a device's own consent report. Rules kept here:

* a scope cannot be activated without an approved, unexpired privacy review of its exact version;
* nobody approves their own work: a review's decider is neither its submitter nor the author of
  the scope version under review;
* an expired approval deactivates its scope on the next read;
* every change a device must see bumps ``config_version`` (devices long-poll on it).

Refusals are ``RequestRejected(status, code, message)``.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from jobshadow.errors import RequestRejected
from jobshadow.govern.control import tables as t
from jobshadow.govern.control.scopes import ScopeDefinition, check_name, scope_diff

CONSENT_STATES = ("given", "withdrawn")


def iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds") if ts is not None else None


def same_person(a: str | None, b: str | None) -> bool:
    """Two principal names for one person (``person:x@y`` and ``x@y`` alike, any case)."""
    def norm(x: str | None) -> str:
        return (x or "").strip().lower().removeprefix("person:")

    return bool(a) and norm(a) == norm(b)


class ProgrammeState:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        t.ensure_schema(engine)
        try:
            with engine.begin() as c:
                if c.execute(select(t.programme.c.id)).first() is None:
                    c.execute(insert(t.programme).values(id=1, state="running", reason="", changed_at=time.time(),
                                                         changed_by="install", cause=None))
                if c.execute(select(t.config_version.c.id)).first() is None:
                    c.execute(insert(t.config_version).values(id=1, version=1))
        except IntegrityError:
            pass  # another process made the first rows at the same moment

    # --- what devices must obey ----------------------------------------------------------------------
    @staticmethod
    def bump(c: Any) -> None:
        c.execute(update(t.config_version).where(t.config_version.c.id == 1)
                  .values(version=t.config_version.c.version + 1))

    def config_version(self) -> int:
        with self.engine.connect() as c:
            return int(c.execute(select(t.config_version.c.version)).scalar_one())

    def upload_refusal(self, c: Any, person_id: str) -> RequestRejected | None:
        """Why a device of ``person_id`` may not upload now (kill switch, consent), in one read."""
        prog, consent = c.execute(select(
            select(t.programme.c.state).where(t.programme.c.id == 1).scalar_subquery(),
            select(t.people.c.consent_state).where(t.people.c.id == person_id).scalar_subquery())).one()
        if prog != "running":
            return RequestRejected(503, "programme_paused", "the programme is paused; uploads resume with it",
                                   retry_after=30)
        if consent == "withdrawn":
            return RequestRejected(403, "consent_withdrawn", "this person withdrew consent; nothing is accepted")
        return None

    # --- kill switch ------------------------------------------------------------------------------------
    def programme(self) -> dict[str, Any]:
        with self.engine.connect() as c:
            r = c.execute(select(t.programme)).first()
        assert r is not None
        return {"state": r.state, "reason": r.reason, "cause": r.cause, "changed_at": iso(r.changed_at),
                "changed_by": r.changed_by}

    def pause(self, reason: str, by: str, cause: str = "admin") -> None:
        if not reason.strip():
            raise RequestRejected(400, "reason_required", "pausing the programme needs a reason")
        with self.engine.begin() as c:
            current = c.execute(select(t.programme.c.state, t.programme.c.cause)).one()
            # An exposure finding outranks a manual pause: resuming it then needs a reviewer.
            keep = current.state == "paused" and current.cause == "exposure" and cause != "exposure"
            c.execute(update(t.programme).where(t.programme.c.id == 1).values(
                state="paused", reason=reason[:1000], changed_at=time.time(), changed_by=by,
                cause="exposure" if keep else cause))
            self.bump(c)

    def resume(self, by: str) -> str | None:
        """Resume; returns the cause of the pause it ended (None if it was running)."""
        with self.engine.begin() as c:
            current = c.execute(select(t.programme.c.state, t.programme.c.cause)).one()
            c.execute(update(t.programme).where(t.programme.c.id == 1).values(
                state="running", reason="", changed_at=time.time(), changed_by=by, cause=None))
            self.bump(c)
        return str(current.cause or "admin") if current.state == "paused" else None

    # --- consent ----------------------------------------------------------------------------------------
    def set_consent(self, person_id: str, state: str, source: str) -> None:
        if state not in CONSENT_STATES:
            raise RequestRejected(400, "invalid_consent", "consent state is 'given' or 'withdrawn'")
        with self.engine.begin() as c:
            res = c.execute(update(t.people).where(t.people.c.id == person_id).values(
                consent_state=state, consent_changed_at=time.time(), consent_source=source))
            if res.rowcount == 0:
                raise RequestRejected(404, "unknown_person", "no such person")
            self.bump(c)

    def consent_of(self, person_id: str) -> str:
        with self.engine.connect() as c:
            row = c.execute(select(t.people.c.consent_state).where(t.people.c.id == person_id)).first()
        return "unknown" if row is None else str(row.consent_state)

    def withdrawn_people(self) -> set[str]:
        with self.engine.connect() as c:
            return {r.id for r in c.execute(select(t.people.c.id).where(t.people.c.consent_state == "withdrawn"))}

    # --- scopes -----------------------------------------------------------------------------------------
    def define_scope(self, name: str, definition: Mapping[str, Any], by: str) -> dict[str, Any]:
        check_name(name)
        parsed = ScopeDefinition.parse(definition).as_json()
        text = json.dumps(parsed)
        now = time.time()
        with self.engine.begin() as c:
            row = c.execute(select(t.scopes).where(t.scopes.c.name == name)).first()
            if row is None:
                version = 1
                c.execute(insert(t.scopes).values(name=name, definition=text, state="draft", created_at=now,
                                                  version=1))
            else:
                # A changed scope is a new version: it needs a new review and is not active.
                version = row.version + 1
                c.execute(update(t.scopes).where(t.scopes.c.name == name).values(definition=text, version=version,
                                                                                state="draft"))
                self.bump(c)
            c.execute(insert(t.scope_versions).values(name=name, version=version, definition=text, author=by,
                                                      created_at=now))
        return {"name": name, "version": version, "state": "draft", **parsed}

    def scopes(self) -> list[dict[str, Any]]:
        now = time.time()
        out = []
        with self.engine.connect() as c:
            for r in c.execute(select(t.scopes).order_by(t.scopes.c.name)).all():
                review = self._valid_review(c, r.name, r.version, now)
                out.append({"name": r.name, "version": r.version, "state": r.state,
                            "review": review.state if review is not None else None,
                            "review_expires": iso(review.expires_at) if review is not None else None,
                            **json.loads(r.definition)})
        return out

    def _version(self, c: Any, name: str, version: int) -> Any:
        return c.execute(select(t.scope_versions).where(t.scope_versions.c.name == name,
                                                        t.scope_versions.c.version == version)).first()

    def scope_version(self, name: str, version: int) -> dict[str, Any] | None:
        """A scope version as defined, and whether it was ever activated (so reviewed and approved)."""
        with self.engine.connect() as c:
            row = self._version(c, name, version)
        if row is None:
            return None
        return {"name": name, "version": version, "author": row.author, "activated": row.activated_at is not None,
                **json.loads(row.definition)}

    def submit_review(self, scope_name: str, by: str, notes: str = "") -> str:
        with self.engine.begin() as c:
            row = c.execute(select(t.scopes).where(t.scopes.c.name == scope_name)).first()
            if row is None:
                raise RequestRejected(404, "unknown_scope", f"no scope {scope_name!r}")
            rid = secrets.token_hex(6)
            c.execute(insert(t.reviews).values(id=rid, scope_name=scope_name, scope_version=row.version,
                                               state="submitted", submitted_by=by, submitted_at=time.time(),
                                               notes=notes[:4000]))
        return rid

    def decide_review(self, review_id: str, approve: bool, reviewer: str, valid_for: float = 365 * 86400,
                      notes: str = "") -> dict[str, Any]:
        with self.engine.begin() as c:
            row = c.execute(select(t.reviews).where(t.reviews.c.id == review_id)).first()
            if row is None:
                raise RequestRejected(404, "unknown_review", f"no review {review_id!r}")
            if row.state != "submitted":
                raise RequestRejected(409, "review_decided", f"review {review_id} is already {row.state}")
            version = self._version(c, row.scope_name, row.scope_version)
            author = version.author if version is not None else None
            if same_person(reviewer, row.submitted_by) or same_person(reviewer, author):
                raise RequestRejected(403, "self_review", "a privacy review cannot be decided by the scope's "
                                                          "author or the review's submitter")
            state = "approved" if approve else "rejected"
            now = time.time()
            c.execute(update(t.reviews).where(t.reviews.c.id == review_id).values(
                state=state, reviewer=reviewer, decided_at=now, expires_at=now + valid_for if approve else None,
                notes=(row.notes + "\n" + notes).strip()[:8000]))
            if not approve:
                self.bump(c)
        return {"review": review_id, "state": state, "scope": row.scope_name, "version": row.scope_version}

    def reviews(self, state: str | None = None) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            q = select(t.reviews).order_by(t.reviews.c.submitted_at.desc())
            if state is not None:
                q = q.where(t.reviews.c.state == state)
            rows = c.execute(q).all()
        return [self._review_json(r) for r in rows]

    @staticmethod
    def _review_json(r: Any) -> dict[str, Any]:
        return {"review": r.id, "scope": r.scope_name, "version": r.scope_version, "state": r.state,
                "submitted_by": r.submitted_by, "submitted_at": iso(r.submitted_at), "reviewer": r.reviewer,
                "decided_at": iso(r.decided_at), "expires": iso(r.expires_at), "notes": r.notes}

    def review(self, review_id: str) -> dict[str, Any]:
        """A review with exactly what it approves: the scope version, its author, the diff from before."""
        with self.engine.connect() as c:
            r = c.execute(select(t.reviews).where(t.reviews.c.id == review_id)).first()
            if r is None:
                raise RequestRejected(404, "unknown_review", f"no review {review_id!r}")
            this = self._version(c, r.scope_name, r.scope_version)
            before = self._version(c, r.scope_name, r.scope_version - 1) if r.scope_version > 1 else None
        definition = json.loads(this.definition) if this is not None else {}
        previous = json.loads(before.definition) if before is not None else None
        return {**self._review_json(r), "author": this.author if this is not None else None,
                "definition": definition, "previous": previous, "diff": scope_diff(previous, definition)}

    def _valid_review(self, c: Any, scope_name: str, version: int, now: float) -> Any:
        rows = c.execute(select(t.reviews).where(t.reviews.c.scope_name == scope_name,
                                                 t.reviews.c.scope_version == version)
                         .order_by(t.reviews.c.submitted_at.desc())).all()
        for r in rows:
            if r.state == "approved" and r.expires_at is not None and r.expires_at > now:
                return r
        return rows[0] if rows else None

    def activate(self, name: str) -> None:
        now = time.time()
        with self.engine.begin() as c:
            row = c.execute(select(t.scopes).where(t.scopes.c.name == name)).first()
            if row is None:
                raise RequestRejected(404, "unknown_scope", f"no scope {name!r}")
            review = self._valid_review(c, name, row.version, now)
            if review is None or review.state != "approved" or review.expires_at is None or review.expires_at <= now:
                raise RequestRejected(409, "review_required",
                                      f"scope {name!r} v{row.version} has no approved, unexpired privacy review")
            # One scope is active at a time: activating one deactivates the others.
            c.execute(update(t.scopes).where(t.scopes.c.state == "active").values(state="inactive"))
            c.execute(update(t.scopes).where(t.scopes.c.name == name).values(state="active", activated_at=now))
            c.execute(update(t.scope_versions).where(t.scope_versions.c.name == name,
                                                     t.scope_versions.c.version == row.version,
                                                     t.scope_versions.c.activated_at.is_(None))
                      .values(activated_at=now))
            self.bump(c)

    def deactivate(self, name: str) -> None:
        with self.engine.begin() as c:
            res = c.execute(update(t.scopes).where(t.scopes.c.name == name).values(state="inactive"))
            if res.rowcount == 0:
                raise RequestRejected(404, "unknown_scope", f"no scope {name!r}")
            self.bump(c)

    def active_scope(self, on_expired: Callable[[str], None] | None = None) -> dict[str, Any] | None:
        """The active scope, or None; a scope whose review expired is deactivated here."""
        now = time.time()
        with self.engine.begin() as c:
            row = c.execute(select(t.scopes).where(t.scopes.c.state == "active")).first()
            if row is None:
                return None
            review = self._valid_review(c, row.name, row.version, now)
            expired = (review is None or review.state != "approved" or review.expires_at is None
                       or review.expires_at <= now)
            if expired:
                c.execute(update(t.scopes).where(t.scopes.c.name == row.name).values(state="inactive"))
                self.bump(c)
        if expired:
            if on_expired is not None:
                on_expired(row.name)
            return None
        return {"name": row.name, "version": row.version, **json.loads(row.definition)}
