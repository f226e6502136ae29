"""The collector and control plane as a plain-Python service (server; no web code here).

Routes in ``jobshadow.ingest.app`` only parse and delegate; every rule lives here and fails with
``RequestRejected(status, code, message)``. The same service backs the admin CLI, which works on
the same database (so an admin on the server host needs no network API and no admin token).

Guarantees kept here:

* a segment lands exactly once (the landed table is keyed by the content hash) and is
  acknowledged only after its blob is durable and its landing-table row is committed — also
  with several collector processes on one database: one at a time holds the commit lease
  (``ingest.lease``) and commits every process's rows, the others watch for theirs;
* nothing already accepted is affected by a bad request: uploads are staged per upload id and
  verified (size, payload hash, decryption, MCAP structure, content hash) before they count;
* a scope cannot be activated without an approved, unexpired privacy review of its exact version;
* revocation, the kill switch and consent withdrawal take effect on the next request.
"""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import io
import json
import logging
import os
import re
import secrets
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

import zstandard
from mcap.records import Chunk, Footer, Metadata
from mcap.stream_reader import StreamReader
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from jobshadow.config import Settings
from jobshadow.crypto.sealed import SealedReader
from jobshadow.errors import JobshadowError, RequestRejected
from jobshadow.govern.consent import ConsentMirror
from jobshadow.govern.landing import Committer, LandingZone
from jobshadow.govern.storage import Storage, drop_cached
from jobshadow.ingest import db
from jobshadow.ingest.lease import Lease, staged_lock
from jobshadow.ingest.writer import GroupCommit, insert_new
from jobshadow.protocol import H_DEVICE, H_NONCE, H_SIGNATURE, H_TIMESTAMP, STREAMS, verify_signature
from jobshadow.segment.format import META_END, META_SEGMENT
from jobshadow.segment.writer import decode_metadata

log = logging.getLogger(__name__)

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def now() -> float:
    return time.time()


def iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds") if ts is not None else None


@dataclass(frozen=True)
class Device:
    id: str
    person_id: str
    public_key: bytes
    revoked: bool


@dataclass(frozen=True)
class ScopeDefinition:
    apps: tuple[str, ...]
    deny_apps: tuple[str, ...]
    allow_titles: tuple[str, ...]
    deny_titles: tuple[str, ...]
    streams: tuple[str, ...]
    purposes: tuple[str, ...]
    retention_days: int

    def as_json(self) -> dict[str, Any]:
        return {"apps": list(self.apps), "deny_apps": list(self.deny_apps), "allow_titles": list(self.allow_titles),
                "deny_titles": list(self.deny_titles), "streams": list(self.streams),
                "purposes": list(self.purposes), "retention_days": self.retention_days}

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> ScopeDefinition:
        def strings(key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
            value = data.get(key, list(default))
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) and 0 < len(v) <= 200 for v in value):
                raise RequestRejected(400, "invalid_scope", f"{key} must be a list of non-empty strings")
            if len(value) > 200:
                raise RequestRejected(400, "invalid_scope", f"{key} has too many entries")
            return tuple(value)

        unknown = set(data) - {"apps", "deny_apps", "allow_titles", "deny_titles", "streams", "purposes",
                               "retention_days"}
        if unknown:
            raise RequestRejected(400, "invalid_scope", f"unknown scope fields: {sorted(unknown)}")
        apps = strings("apps")
        if not apps:
            raise RequestRejected(400, "invalid_scope", "a scope needs at least one app")
        streams = strings("streams", STREAMS)
        bad = set(streams) - set(STREAMS)
        if bad:
            raise RequestRejected(400, "invalid_scope", f"unknown streams {sorted(bad)}; known: {list(STREAMS)}")
        purposes = strings("purposes", ("model_training",))
        if not purposes:
            raise RequestRejected(400, "invalid_scope", "a scope needs at least one purpose")
        for pattern in strings("allow_titles") + strings("deny_titles"):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise RequestRejected(400, "invalid_scope", f"invalid regular expression {pattern!r}: {exc}") from None
        retention = data.get("retention_days", 90)
        if not isinstance(retention, int) or isinstance(retention, bool) or not 1 <= retention <= 3650:
            raise RequestRejected(400, "invalid_scope", "retention_days must be an integer from 1 to 3650")
        return cls(apps, strings("deny_apps"), strings("allow_titles"), strings("deny_titles"), streams, purposes,
                   retention)


class CollectorService:
    def __init__(self, settings: Settings, storage: Storage | None = None, *, committer: bool = False) -> None:
        self.settings = settings
        self.storage = storage or Storage(settings)
        self.engine = db.make_engine(self.storage.database_url)
        # Writes on the request path (nonces, activity times, uploads, landed rows) share one
        # transaction per round on one thread (see ingest.writer).
        sqlite_file = self.storage.database_url.startswith("sqlite:///") and ":memory:" not in self.storage.database_url
        self.writes = GroupCommit(self.engine, lock_path=self.storage.paths.root / "control-plane.write.lock"
                                  if sqlite_file else None)
        self.landing = LandingZone(self.storage)
        self._committer: Committer | None = None
        # Landed rows waiting for their Iceberg commit, by content hash: a retried or concurrent
        # completion of the same content waits on the same commit instead of submitting it again.
        self._inflight: dict[str, concurrent.futures.Future[str]] = {}
        self._inflight_lock = threading.Lock()
        self._audit: Any = None
        self._audit_lock = threading.Lock()
        with self.engine.begin() as c:
            if c.execute(select(db.programme.c.id)).first() is None:
                c.execute(insert(db.programme).values(id=1, state="running", reason="", changed_at=now(),
                                                      changed_by="install"))
            if c.execute(select(db.config_version.c.id)).first() is None:
                c.execute(insert(db.config_version).values(id=1, version=1))
        # Landing-table commits: with ``committer`` this process takes part in the lease (see
        # ingest.lease); the holder commits every process's landed rows, the others wait for the
        # rows they recorded to show up as committed. Without it (admin tools), commits are inline.
        self._lease: Lease | None = None
        self._waiting: dict[str, list[tuple[concurrent.futures.Future[dict[str, Any]], str, Any]]] = {}
        self._waiting_lock = threading.Lock()
        self._stop = threading.Event()
        self._coordinator: threading.Thread | None = None
        if committer:
            self._lease = Lease(self.storage.paths.root / "committer.lock")
            self._take_lease()
            self._coordinator = threading.Thread(target=self._coordinate, name="landing-coordinator", daemon=True)
            self._coordinator.start()

    @property
    def commits_here(self) -> bool:
        """Whether this process appends landed rows to the landing table (holds the lease)."""
        return self._committer is not None

    def _take_lease(self) -> bool:
        assert self._lease is not None
        if self._committer is not None or not self._lease.try_acquire():
            return self._committer is not None
        committer = Committer(self.landing, self.settings.server.commit_interval_ms / 1000.0,
                              self._mark_committed, self._mark_batch)
        self._committer = committer
        try:
            self.recover()
        except BaseException:
            # The catalog or the database failed: give the lease up, so that this process or
            # another tries again, rather than hold it with a committer that never started.
            self._committer = None
            committer.abandon()  # rows submitted meanwhile: their requests answer "retry"
            self._lease.release()
            raise
        committer.start()
        log.info("this collector process commits to the landing table", extra={"fields": {"pid": os.getpid()}})
        return True

    def _coordinate(self) -> None:
        """Take over the lease when its holder is gone; settle this process's waiting uploads;
        as the holder, pick up rows recorded by other processes."""
        interval = self.settings.server.commit_interval_ms / 1000.0
        last_try = last_sweep = 0.0
        while not self._stop.wait(min(0.05, interval)):
            try:
                t = time.monotonic()
                if self._committer is None and t - last_try >= 1.0:
                    last_try = t
                    self._take_lease()
                if self._committer is not None and t - last_sweep >= interval:
                    last_sweep = t
                    self._sweep()
                self._settle_waiting()
            except Exception:  # thread boundary: the database may be briefly locked
                log.warning("landing coordination failed; retrying", exc_info=True)
                self._stop.wait(0.5)

    def _sweep(self) -> None:
        """Submit uncommitted landed rows that no request of this process submitted."""
        with self.engine.connect() as c:
            pending = c.execute(select(db.landed.c.content_hash, db.landed.c.upload_id, db.landed.c.row)
                                .where(db.landed.c.committed.is_(False)).limit(2000)).all()
        for r in pending:
            with self._inflight_lock:
                known = r.content_hash in self._inflight
            if not known:
                self._await_commit(r.content_hash, json.loads(r.row), r.upload_id)

    def _settle_waiting(self) -> None:
        """Answer uploads recorded here whose rows another process committed."""
        with self._waiting_lock:
            hashes = list(self._waiting)
        done: set[str] = set()
        for i in range(0, len(hashes), 500):
            part = hashes[i:i + 500]
            with self.engine.connect() as c:
                done.update(str(h) for (h,) in c.execute(select(db.landed.c.content_hash).where(
                    db.landed.c.content_hash.in_(part), db.landed.c.committed.is_(True))).all())
        with self._waiting_lock:
            for h in hashes:
                waiters = self._waiting.get(h, [])
                if h in done:
                    self._waiting.pop(h, None)
                else:  # a request that gave up (timed out) cancels its future
                    waiters[:] = [w for w in waiters if not w[0].cancelled()]
                    if not waiters:
                        self._waiting.pop(h, None)
                    continue
                for fut, upload_id, size in waiters:
                    if fut.set_running_or_notify_cancel():
                        fut.set_result({"upload_id": upload_id, "state": "landed", "received": size,
                                        "content_hash": h})

    @functools.cached_property
    def consent_mirror(self) -> ConsentMirror:
        return ConsentMirror(self.storage)

    def close(self) -> None:
        if "consent_mirror" in self.__dict__:
            self.consent_mirror.close()
        self._stop.set()
        if self._coordinator is not None:
            self._coordinator.join(10)
        committer = self._committer
        if committer is not None:
            committer.stop()
        if self._lease is not None and (committer is None or not committer.running):
            # A committer still inside an append keeps the lease until this process exits:
            # another holder's recovery must not re-append the rows it is appending.
            self._lease.release()
        self.writes.stop()
        with self._audit_lock:
            if self._audit is not None:
                self._audit.close()
                self._audit = None
        self.engine.dispose()

    # --- audit ----------------------------------------------------------------------------------------
    def audit(self, principal: str, action: str, resource: str, decision: Literal["allow", "deny"] = "allow",
              reason: str = "",
              detail: dict[str, str | int] | None = None) -> None:
        """Append an administrative action to the tamper-evident audit log (and publish a head)."""
        from jobshadow.govern.audit import AuditLog, AuditRecord, load_or_create_signing_key
        from jobshadow.govern.heads import publish

        with self._audit_lock:
            if self._audit is None:
                key = load_or_create_signing_key(self.storage.audit_key_path)
                self._audit = AuditLog(self.storage.paths.audit_db, signing_key=key)
            self._audit.append(AuditRecord.create(principal=principal or "unknown", action=action, resource=resource,
                                                  purpose="programme_administration", decision=decision,
                                                  reason=reason, detail=detail or {}))
            publish(self._audit, self.storage.audit_heads_dir)

    # --- people and enrolment ----------------------------------------------------------------------
    def _person_id(self, c: Any, email: str, create: bool) -> str:
        email = email.strip().lower()
        if not _EMAIL.match(email):
            raise RequestRejected(400, "invalid_email", "not an e-mail address")
        row = c.execute(select(db.people.c.id).where(db.people.c.email == email)).first()
        if row is not None:
            return str(row.id)
        if not create:
            raise RequestRejected(404, "unknown_person", "no such person")
        pid = secrets.token_hex(8)
        c.execute(insert(db.people).values(id=pid, email=email, consent_state="unknown", created_at=now()))
        return pid

    def person_id_of(self, email: str) -> str:
        """The person id of an enrolled e-mail address; ``RequestRejected`` (404) if unknown."""
        with self.engine.connect() as c:
            return self._person_id(c, email, create=False)

    def create_enroll_code(self, email: str, by: str = "admin") -> tuple[str, float]:
        """A one-time code bound to a person; only its hash is stored."""
        code = "-".join(secrets.token_hex(3).upper() for _ in range(4))
        expires = now() + float(self.settings.server.enroll_code_ttl)
        with self.engine.begin() as c:
            pid = self._person_id(c, email, create=True)
            c.execute(insert(db.enroll_codes).values(code_hash=_hash_code(code), person_id=pid, created_at=now(),
                                                     expires_at=expires))
        self.audit(by, "enroll_code.create", f"person:{pid}")
        return code, expires

    def enroll(self, code: str, public_key: bytes, name: str) -> dict[str, Any]:
        if not isinstance(code, str) or not 4 <= len(code) <= 64:
            raise RequestRejected(400, "invalid_code", "malformed enrolment code")
        if len(public_key) != 32:
            raise RequestRejected(400, "invalid_key", "the device key must be a 32-byte Ed25519 public key")
        name = (name or "")[:200]
        with self.engine.begin() as c:
            row = c.execute(select(db.enroll_codes).where(db.enroll_codes.c.code_hash == _hash_code(code))).first()
            if row is None:
                raise RequestRejected(403, "invalid_code", "unknown enrolment code")
            if row.used_at is not None:
                raise RequestRejected(403, "code_used", "this enrolment code was already used")
            if row.expires_at < now():
                raise RequestRejected(403, "code_expired", "this enrolment code has expired")
            device_id = secrets.token_hex(8)
            try:
                c.execute(insert(db.devices).values(id=device_id, person_id=row.person_id, public_key=public_key,
                                                    name=name, enrolled_at=now()))
            except IntegrityError:
                raise RequestRejected(409, "key_in_use", "this device key is already enrolled") from None
            done = c.execute(update(db.enroll_codes).where(db.enroll_codes.c.code_hash == row.code_hash,
                                                           db.enroll_codes.c.used_at.is_(None))
                             .values(used_at=now(), device_id=device_id))
            if done.rowcount != 1:
                raise RequestRejected(403, "code_used", "this enrolment code was already used")
            email: str = c.execute(select(db.people.c.email).where(db.people.c.id == row.person_id)).scalar_one()
        return {"device_id": device_id, "person_id": row.person_id, "person": email,
                "landing_public_key": self.landing.public_key.hex(),
                "server_time": now()}

    def revoke_device(self, device_id: str, by: str = "admin") -> None:
        with self.engine.begin() as c:
            res = c.execute(update(db.devices).where(db.devices.c.id == device_id, db.devices.c.revoked_at.is_(None))
                            .values(revoked_at=now()))
            if res.rowcount == 0:
                exists = c.execute(select(db.devices.c.id).where(db.devices.c.id == device_id)).first()
                if exists is None:
                    raise RequestRejected(404, "unknown_device", "no such device")
            self._bump(c)
        self.audit(by, "device.revoke", f"device:{device_id}")

    def devices(self) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            rows = c.execute(select(db.devices, db.people.c.email).join(db.people)).all()
        return [{"device_id": r.id, "person": r.email, "name": r.name, "enrolled_at": iso(r.enrolled_at),
                 "revoked_at": iso(r.revoked_at), "last_seen": iso(r.last_seen)} for r in rows]

    # --- request authentication -----------------------------------------------------------------------
    def authenticate(self, method: str, target: str, body_sha256: str, headers: Mapping[str, str]) -> Device:
        device_id = headers.get(H_DEVICE, "")
        ts_text, nonce, sig = headers.get(H_TIMESTAMP, ""), headers.get(H_NONCE, ""), headers.get(H_SIGNATURE, "")
        if not (device_id and ts_text and nonce and sig):
            raise RequestRejected(401, "unsigned", "request is not signed (missing X-Jobshadow-* headers)")
        if not re.fullmatch(r"[0-9a-f]{16}", device_id) or not re.fullmatch(r"[0-9a-f]{32}", nonce):
            raise RequestRejected(401, "malformed_signature", "malformed device id or nonce")
        try:
            ts = int(ts_text)
        except ValueError:
            raise RequestRejected(401, "malformed_signature", "timestamp is not an integer") from None
        skew = float(self.settings.server.clock_skew)
        if abs(now() - ts) > skew:
            raise RequestRejected(401, "stale_request", f"request timestamp outside the {skew:.0f} s window")
        with self.engine.connect() as c:
            row = c.execute(select(db.devices).where(db.devices.c.id == device_id)).first()
        if row is None:
            raise RequestRejected(401, "unknown_device", "unknown device")
        if not verify_signature(bytes(row.public_key), method, target, body_sha256, ts, nonce, device_id, sig):
            raise RequestRejected(401, "bad_signature", "signature does not verify")
        if row.revoked_at is not None:
            raise RequestRejected(403, "device_revoked", "this device has been revoked")
        # The nonce is durable before the request has any effect (the group commit answers after
        # its transaction committed), so a replay is refused even after a crash and restart; the
        # unique key decides between two concurrent uses of one nonce.
        seen = now()
        if not self.writes.call(functools.partial(_claim_nonce, device_id, nonce, seen)):
            raise RequestRejected(401, "replayed_request", "this request was already received")
        self.writes.touch(db.devices, db.devices.c.id, db.devices.c.last_seen, device_id, seen)
        return Device(row.id, row.person_id, bytes(row.public_key), row.revoked_at is not None)

    def prune_nonces(self) -> int:
        """Forget nonces older than twice the replay window (a request that old is refused as stale)."""
        horizon = now() - 2 * float(self.settings.server.clock_skew)

        def prune(c: Any) -> int:
            return int(c.execute(delete(db.nonces).where(db.nonces.c.seen_at < horizon)).rowcount or 0)

        return self.writes.call(prune)

    # --- control plane ------------------------------------------------------------------------------
    def _bump(self, c: Any) -> None:
        c.execute(update(db.config_version).where(db.config_version.c.id == 1)
                  .values(version=db.config_version.c.version + 1))

    def config_version(self) -> int:
        with self.engine.connect() as c:
            return int(c.execute(select(db.config_version.c.version)).scalar_one())

    def create_scope(self, name: str, definition: Mapping[str, Any], by: str = "admin") -> dict[str, Any]:
        if not _NAME.match(name or ""):
            raise RequestRejected(400, "invalid_scope", "scope names are 1-100 letters, digits, '.', '_' or '-'")
        parsed = ScopeDefinition.parse(definition)
        with self.engine.begin() as c:
            row = c.execute(select(db.scopes).where(db.scopes.c.name == name)).first()
            if row is None:
                c.execute(insert(db.scopes).values(name=name, definition=json.dumps(parsed.as_json()), state="draft",
                                                   created_at=now(), version=1))
                version = 1
            else:
                # A changed scope is a new version: it needs a new review and is not active.
                version = row.version + 1
                c.execute(update(db.scopes).where(db.scopes.c.name == name).values(
                    definition=json.dumps(parsed.as_json()), version=version, state="draft"))
                self._bump(c)
        self.audit(by, "scope.define", f"scope:{name}", detail={"version": version})
        return {"name": name, "version": version, "state": "draft", **parsed.as_json()}

    def scopes(self) -> list[dict[str, Any]]:
        t = now()
        out = []
        with self.engine.connect() as c:
            for r in c.execute(select(db.scopes).order_by(db.scopes.c.name)).all():
                review = self._valid_review(c, r.name, r.version, t)
                out.append({"name": r.name, "version": r.version, "state": r.state,
                            "review": review.state if review is not None else None,
                            "review_expires": iso(review.expires_at) if review is not None else None,
                            **json.loads(r.definition)})
        return out

    def submit_review(self, scope_name: str, by: str, notes: str = "") -> str:
        with self.engine.begin() as c:
            row = c.execute(select(db.scopes).where(db.scopes.c.name == scope_name)).first()
            if row is None:
                raise RequestRejected(404, "unknown_scope", f"no scope {scope_name!r}")
            rid = secrets.token_hex(6)
            c.execute(insert(db.reviews).values(id=rid, scope_name=scope_name, scope_version=row.version,
                                                state="submitted", submitted_by=by, submitted_at=now(),
                                                notes=notes[:4000]))
        self.audit(by, "review.submit", f"scope:{scope_name}", detail={"review": rid})
        return rid

    def decide_review(self, review_id: str, approve: bool, reviewer: str, valid_for: float = 365 * 86400,
                      notes: str = "") -> dict[str, Any]:
        with self.engine.begin() as c:
            row = c.execute(select(db.reviews).where(db.reviews.c.id == review_id)).first()
            if row is None:
                raise RequestRejected(404, "unknown_review", f"no review {review_id!r}")
            if row.state != "submitted":
                raise RequestRejected(409, "review_decided", f"review {review_id} is already {row.state}")
            if reviewer.strip().lower() == row.submitted_by.strip().lower():
                raise RequestRejected(403, "self_review", "a privacy review cannot be approved by its submitter")
            state = "approved" if approve else "rejected"
            c.execute(update(db.reviews).where(db.reviews.c.id == review_id).values(
                state=state, reviewer=reviewer, decided_at=now(),
                expires_at=now() + valid_for if approve else None, notes=(row.notes + "\n" + notes).strip()[:8000]))
            if not approve:
                self._bump(c)
        self.audit(reviewer, f"review.{state}", f"scope:{row.scope_name}", detail={"review": review_id})
        return {"review": review_id, "state": state, "scope": row.scope_name}

    def _valid_review(self, c: Any, scope_name: str, version: int, t: float) -> Any:
        rows = c.execute(select(db.reviews).where(db.reviews.c.scope_name == scope_name,
                                                  db.reviews.c.scope_version == version)
                         .order_by(db.reviews.c.submitted_at.desc())).all()
        for r in rows:
            if r.state == "approved" and r.expires_at is not None and r.expires_at > t:
                return r
        return rows[0] if rows else None

    def activate_scope(self, name: str, by: str = "admin") -> None:
        t = now()
        refused: RequestRejected | None = None
        with self.engine.begin() as c:
            row = c.execute(select(db.scopes).where(db.scopes.c.name == name)).first()
            if row is None:
                raise RequestRejected(404, "unknown_scope", f"no scope {name!r}")
            review = self._valid_review(c, name, row.version, t)
            if review is None or review.state != "approved" or review.expires_at is None or review.expires_at <= t:
                refused = RequestRejected(409, "review_required",
                                          f"scope {name!r} v{row.version} has no approved, unexpired privacy review")
            else:
                # One scope is active at a time: activating one deactivates the others.
                c.execute(update(db.scopes).where(db.scopes.c.state == "active").values(state="inactive"))
                c.execute(update(db.scopes).where(db.scopes.c.name == name).values(state="active", activated_at=t))
                self._bump(c)
        if refused is not None:
            self.audit(by, "scope.activate", f"scope:{name}", decision="deny", reason="no approved privacy review")
            raise refused
        self.audit(by, "scope.activate", f"scope:{name}")

    def deactivate_scope(self, name: str, by: str = "admin") -> None:
        with self.engine.begin() as c:
            res = c.execute(update(db.scopes).where(db.scopes.c.name == name).values(state="inactive"))
            if res.rowcount == 0:
                raise RequestRejected(404, "unknown_scope", f"no scope {name!r}")
            self._bump(c)
        self.audit(by, "scope.deactivate", f"scope:{name}")

    def active_scope(self) -> dict[str, Any] | None:
        """The active scope, or None; a scope whose review expired is deactivated here."""
        t = now()
        with self.engine.begin() as c:
            row = c.execute(select(db.scopes).where(db.scopes.c.state == "active")).first()
            if row is None:
                return None
            review = self._valid_review(c, row.name, row.version, t)
            if review is None or review.state != "approved" or review.expires_at is None or review.expires_at <= t:
                c.execute(update(db.scopes).where(db.scopes.c.name == row.name).values(state="inactive"))
                self._bump(c)
                expired = True
            else:
                expired = False
        if expired:
            self.audit("system", "scope.deactivate", f"scope:{row.name}", reason="privacy review expired")
            return None
        return {"name": row.name, "version": row.version, **json.loads(row.definition)}

    def programme(self) -> dict[str, Any]:
        with self.engine.connect() as c:
            r = c.execute(select(db.programme)).first()
        assert r is not None
        return {"state": r.state, "reason": r.reason, "changed_at": iso(r.changed_at), "changed_by": r.changed_by}

    def pause_programme(self, reason: str, by: str) -> None:
        if not reason.strip():
            raise RequestRejected(400, "reason_required", "pausing the programme needs a reason")
        with self.engine.begin() as c:
            c.execute(update(db.programme).where(db.programme.c.id == 1).values(
                state="paused", reason=reason[:1000], changed_at=now(), changed_by=by))
            self._bump(c)
        self._sync_quarantine()
        self.audit(by, "programme.pause", "programme", reason=reason[:1000])

    def resume_programme(self, by: str) -> None:
        with self.engine.begin() as c:
            c.execute(update(db.programme).where(db.programme.c.id == 1).values(
                state="running", reason="", changed_at=now(), changed_by=by))
            self._bump(c)
        self._sync_quarantine()
        self.audit(by, "programme.resume", "programme")

    def _sync_quarantine(self) -> None:
        """Make the landing table's quarantine flag follow the programme state.

        Pause and resume can race (two admins, or the CLI and the server); reading the desired
        state again after committing and repeating until they agree makes the last word win.
        """
        for _ in range(10):
            want = self.programme()
            self.landing.set_quarantined(want["state"] == "paused", want["reason"])
            if self.programme()["state"] == want["state"]:
                return
        log.error("landing quarantine flag did not settle")

    def set_consent(self, person: str, state: str, source: str, by: str = "") -> None:
        """Record a person's consent (``person`` is an e-mail or a person id)."""
        if state not in ("given", "withdrawn"):
            raise RequestRejected(400, "invalid_consent", "consent state is 'given' or 'withdrawn'")
        with self.engine.begin() as c:
            pid = person if re.fullmatch(r"[0-9a-f]{16}", person) else self._person_id(c, person, create=False)
            res = c.execute(update(db.people).where(db.people.c.id == pid).values(
                consent_state=state, consent_changed_at=now(), consent_source=source))
            if res.rowcount == 0:
                raise RequestRejected(404, "unknown_person", "no such person")
            self._bump(c)
        # Governance drops a withdrawn person's rows from training reads at once.
        self.consent_mirror.record(pid, state)
        self.audit(by or f"person:{pid}", f"consent.{state}", f"person:{pid}", detail={"source": source})

    def device_config(self, device: Device) -> dict[str, Any]:
        with self.engine.connect() as c:
            consent: str = c.execute(select(db.people.c.consent_state)
                                     .where(db.people.c.id == device.person_id)).scalar_one()
        programme = self.programme()
        scope = self.active_scope()
        body: dict[str, Any] = {
            "programme": {"state": programme["state"], "reason": programme["reason"]},
            "consent": {"state": consent},
            "scope": scope,
            "upload": {"allowed": programme["state"] == "running" and consent != "withdrawn"},
            "device": {"id": device.id, "revoked": device.revoked},
        }
        body["etag"] = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]
        return body

    # --- uploads ----------------------------------------------------------------------------------------
    def _upload_allowed(self, c: Any, device: Device) -> None:
        # One read for both (this runs for every chunk): the kill switch, then the person's consent.
        prog, consent = c.execute(select(
            select(db.programme.c.state).where(db.programme.c.id == 1).scalar_subquery(),
            select(db.people.c.consent_state).where(db.people.c.id == device.person_id).scalar_subquery())).one()
        if prog != "running":
            raise RequestRejected(503, "programme_paused", "the programme is paused; uploads resume with it",
                                  retry_after=30)
        if consent == "withdrawn":
            raise RequestRejected(403, "consent_withdrawn", "this person withdrew consent; nothing is accepted")

    def _staging(self, upload_id: str) -> Path:
        return self.storage.paths.staging / f"{upload_id}.part"

    def begin_upload(self, device: Device, content_hash: str, payload_sha256: str, size: int,
                     segment_id: str) -> dict[str, Any]:
        if not _HEX64.match(content_hash or "") or not _HEX64.match(payload_sha256 or ""):
            raise RequestRejected(400, "invalid_hash", "hashes must be 64 lower-case hex characters")
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise RequestRejected(400, "invalid_size", "size must be a positive integer")
        if size > self.settings.server.max_segment_bytes:
            raise RequestRejected(413, "too_large",
                                  f"segment larger than {self.settings.server.max_segment_bytes} bytes")
        if not isinstance(segment_id, str) or not re.fullmatch(r"[0-9A-Za-z_.-]{1,64}", segment_id):
            raise RequestRejected(400, "invalid_segment_id", "malformed segment id")
        with self.engine.connect() as c:
            self._upload_allowed(c, device)
            done = c.execute(select(db.landed.c.upload_id, db.landed.c.committed)
                             .where(db.landed.c.content_hash == content_hash)).first()
            if done is not None and done.committed:
                return {"upload_id": done.upload_id, "state": "landed", "received": size}
            row = c.execute(select(db.uploads).where(
                db.uploads.c.device_id == device.id, db.uploads.c.payload_sha256 == payload_sha256,
                db.uploads.c.state == "open")).first()
        if row is not None:
            if row.size != size or row.content_hash != content_hash:
                raise RequestRejected(409, "upload_conflict", "an open upload of this payload disagrees on size")
            return {"upload_id": row.id, "state": "open", "received": self._received(row.id)}
        upload_id = secrets.token_hex(16)
        t = now()
        values = dict(id=upload_id, device_id=device.id, content_hash=content_hash, payload_sha256=payload_sha256,
                      size=size, segment_id=segment_id, state="open", created_at=t, updated_at=t)
        self.writes.call(functools.partial(_insert, db.uploads, values))
        self._staging(upload_id).touch(mode=0o600)
        return {"upload_id": upload_id, "state": "open", "received": 0}

    def _received(self, upload_id: str) -> int:
        p = self._staging(upload_id)
        return p.stat().st_size if p.exists() else 0

    def _open_upload(self, c: Any, device: Device, upload_id: str) -> Any:
        if not re.fullmatch(r"[0-9a-f]{32}", upload_id or ""):
            raise RequestRejected(404, "unknown_upload", "no such upload")
        row = c.execute(select(db.uploads).where(db.uploads.c.id == upload_id)).first()
        if row is None or row.device_id != device.id:
            raise RequestRejected(404, "unknown_upload", "no such upload")
        return row

    def upload_status(self, device: Device, upload_id: str) -> dict[str, Any]:
        with self.engine.connect() as c:
            row = self._open_upload(c, device, upload_id)
        received = row.size if row.state == "landed" else self._received(upload_id)
        return {"upload_id": upload_id, "state": row.state, "received": received, "size": row.size,
                "reason": row.reason or None}

    def put_chunk(self, device: Device, upload_id: str, offset: int, data: bytes) -> dict[str, Any]:
        with self.engine.connect() as c:
            self._upload_allowed(c, device)
            row = self._open_upload(c, device, upload_id)
        if row.state == "landed":
            return {"upload_id": upload_id, "state": "landed", "received": row.size}
        if row.state != "open":
            raise RequestRejected(409, "upload_closed", f"upload is {row.state}")
        if len(data) > self.settings.server.max_chunk_bytes:
            raise RequestRejected(413, "chunk_too_large",
                                  f"chunks are at most {self.settings.server.max_chunk_bytes} bytes")
        with staged_lock(self._staging(upload_id), os.O_WRONLY | os.O_APPEND) as fd:
            if fd is None:
                # Landed meanwhile (another upload of the same content) or dropped: the state says
                # which. Still open means the staged bytes were lost: start again from offset 0.
                status = self.upload_status(device, upload_id)
                if status["state"] == "open":
                    self._staging(upload_id).touch(mode=0o600)
                return status
            received = os.fstat(fd).st_size
            if offset != received:
                raise RequestRejected(409, "offset_mismatch", f"expected offset {received}", retry_after=None)
            if received + len(data) > row.size:
                raise RequestRejected(400, "too_much_data", "chunk goes past the declared size")
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            received += len(data)
        # Only ``expire_uploads`` (days) reads this: written with the next group commit, unawaited.
        self.writes.touch(db.uploads, db.uploads.c.id, db.uploads.c.updated_at, upload_id, now())
        return {"upload_id": upload_id, "state": "open", "received": received}

    def complete_upload(
        self, device: Device, upload_id: str
    ) -> concurrent.futures.Future[dict[str, Any]] | dict[str, Any]:
        """Verify and land; returns the result, or a future that resolves once the row is committed.

        Completions of one upload are serialised (a client retrying after a dropped connection
        must not verify and store the same bytes twice in parallel).
        """
        with self.engine.connect() as c:
            self._upload_allowed(c, device)
            row = self._open_upload(c, device, upload_id)
        # Held until the landed row is recorded: a retried completion (on any thread or process)
        # waits here, then finds the row and waits for the same commit.
        with staged_lock(self._staging(upload_id), os.O_RDONLY) as fd:
            with self.engine.connect() as c:
                row = self._open_upload(c, device, upload_id)
                landed = c.execute(select(db.landed).where(db.landed.c.content_hash == row.content_hash)).first()
            if landed is not None:
                if landed.committed:
                    self._finish_staging(upload_id, row)
                    return {"upload_id": upload_id, "state": "landed", "received": row.size,
                            "content_hash": row.content_hash}
                return self._await_commit(landed.content_hash, json.loads(landed.row), upload_id)
            if row.state == "rejected":
                raise RequestRejected(422, "upload_rejected", row.reason or "upload was rejected")
            received = os.fstat(fd).st_size if fd is not None else 0
            if received != row.size:
                raise RequestRejected(409, "incomplete", f"received {received} of {row.size} bytes")
            assert fd is not None  # row.size > 0, so some bytes were staged
            try:
                info = self._verify(fd, row)
            except RequestRejected as exc:
                self.writes.call(functools.partial(_update_upload, upload_id, state="rejected",
                                                   reason=str(exc)[:500], updated_at=now()))
                self._staging(upload_id).unlink(missing_ok=True)
                raise
            blob_name = _blob_name(upload_id)
            try:
                blob_uri = self.landing.store_blob(self._staging(upload_id), blob_name)
            except FileNotFoundError:
                # Another upload of the same content landed while this one was verified, and
                # its commit removed these staged bytes: that landing stands for this one too.
                with self.engine.connect() as c:
                    landed = c.execute(select(db.landed).where(
                        db.landed.c.content_hash == row.content_hash)).first()
                if landed is None:
                    raise
                return self._await_commit(landed.content_hash, json.loads(landed.row), upload_id)
            drop_cached(fd)  # the verified bytes are now the blob's (see ObjectStore.put_file)
            return self._land(device, upload_id, row.content_hash, row.payload_sha256, row.segment_id, row.size,
                              info, blob_name, blob_uri)

    def put_segment(self, device: Device, content_hash: str, segment_id: str, payload: bytes,
                    payload_sha256: str) -> concurrent.futures.Future[dict[str, Any]] | dict[str, Any]:
        """Land a whole segment received in one request (one no larger than a chunk).

        Most segments are a few MB: one signed request instead of begin, chunks and complete.
        The request's signature covers ``payload_sha256`` (the body's hash), so transit damage
        is already excluded; the payload is verified in memory as a completion verifies staged
        bytes, stored as a blob and recorded like any landed upload. Idempotent by content hash:
        a retry after a lost answer gets "landed" again and lands nothing twice.
        """
        if not _HEX64.match(content_hash or ""):
            raise RequestRejected(400, "invalid_hash", "the content hash must be 64 lower-case hex characters")
        if not isinstance(segment_id, str) or not re.fullmatch(r"[0-9A-Za-z_.-]{1,64}", segment_id):
            raise RequestRejected(400, "invalid_segment_id", "malformed segment id")
        if not payload:
            raise RequestRejected(400, "empty_body", "the sealed segment is the request body")
        limit = min(self.settings.server.max_chunk_bytes, self.settings.server.max_segment_bytes)
        if len(payload) > limit:
            raise RequestRejected(413, "too_large", f"a segment larger than {limit} bytes goes in a resumable "
                                                    "upload (POST /v1/uploads)")
        with self.engine.connect() as c:
            self._upload_allowed(c, device)
            landed = c.execute(select(db.landed).where(db.landed.c.content_hash == content_hash)).first()
        if landed is not None:
            if landed.committed:
                return {"upload_id": landed.upload_id, "state": "landed", "received": len(payload),
                        "content_hash": content_hash}
            return self._await_commit(content_hash, json.loads(landed.row), landed.upload_id)
        info = verify_sealed_segment(io.BytesIO(payload), self.landing.key_for, payload_sha256, content_hash,
                                     segment_id)
        upload_id = secrets.token_hex(16)
        blob_name = _blob_name(upload_id)
        blob_uri = self.landing.store_blob_bytes(payload, blob_name)
        t = now()
        upload = dict(id=upload_id, device_id=device.id, content_hash=content_hash, payload_sha256=payload_sha256,
                      size=len(payload), segment_id=segment_id, state="open", created_at=t, updated_at=t)
        return self._land(device, upload_id, content_hash, payload_sha256, segment_id, len(payload), info,
                          blob_name, blob_uri, upload=upload)

    def _land(self, device: Device, upload_id: str, content_hash: str, payload_sha256: str, segment_id: str,
              size: int, info: dict[str, Any], blob_name: str, blob_uri: str,
              upload: dict[str, Any] | None = None) -> concurrent.futures.Future[dict[str, Any]]:
        """Record a verified, stored upload as landed and wait for its landing-table commit.

        ``upload``: the upload's row, for a segment that arrived in one request and has none yet;
        it is written in the same transaction as the landed row.
        """
        scope = self.active_scope() or {}
        landed_row = {
            "content_hash": content_hash, "payload_sha256": payload_sha256, "device_id": device.id,
            "person_id": device.person_id, "segment_id": segment_id, "session_id": info.get("session_id"),
            "blob_uri": blob_uri, "size_bytes": size, "landed_at": datetime.now(UTC).isoformat(),
            "started_at": info.get("started"), "ended_at": info.get("ended"),
            "schema_version": info["schema_version"], "quarantined": False,
            "scope_name": scope.get("name"), "scope_version": scope.get("version"),
            "purposes": json.dumps(scope.get("purposes", [])), "retention_days": scope.get("retention_days"),
        }
        landed_values = dict(content_hash=content_hash, upload_id=upload_id, device_id=device.id,
                             person_id=device.person_id, blob_name=blob_name, row=json.dumps(landed_row),
                             committed=False, landed_at=now())

        def record(c: Any) -> bool:
            won = _insert_new(db.landed, ("content_hash",), landed_values, c)
            if won and upload is not None:
                _insert(db.uploads, upload, c)
            return won

        if not self.writes.call(record):
            # Another upload of the same content was recorded first (a device that re-sealed after
            # a crash, or a retry racing the original): that one's blob is the landed one, and its
            # commit is awaited below like ours would be. Ours is removed unless it is that one.
            with self.engine.connect() as c:
                kept = c.execute(select(db.landed.c.blob_name, db.landed.c.upload_id).where(
                    db.landed.c.content_hash == content_hash)).first()
            if kept is None or kept.blob_name != blob_name:
                self.landing.delete_blob(blob_name)
            if upload is not None and kept is not None:
                upload_id = kept.upload_id  # this request made no upload of its own
        return self._await_commit(content_hash, landed_row, upload_id)

    def _await_commit(self, content_hash: str, landed_row: dict[str, Any],
                      upload_id: str) -> concurrent.futures.Future[dict[str, Any]]:
        out: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()
        size = landed_row.get("size_bytes")
        if self._lease is None:
            self._commit_rows([landed_row])
            out.set_result({"upload_id": upload_id, "state": "landed", "received": size, "content_hash": content_hash})
            return out
        committer = self._committer
        if committer is None:
            # Another process holds the lease and commits this row; its commit is watched for.
            with self._waiting_lock:
                self._waiting.setdefault(content_hash, []).append((out, upload_id, size))
            return out
        # Concurrent or retried completions of one content share one submission. Exactly-once does
        # not rest on this map: the committer's ``_mark_batch`` leaves out rows already committed
        # (so no database read is needed here, and no lock is held across one).
        with self._inflight_lock:
            fut = self._inflight.get(content_hash)
            submitted = fut is None
            if fut is None:
                fut = self._inflight[content_hash] = committer.submit(_row_for_table(landed_row))
        if submitted:
            # Outside the lock: a future already done runs its callback here, and the callback
            # takes the lock (a plain Lock: taking it twice would deadlock this thread).
            fut.add_done_callback(lambda _f: self._forget_inflight(content_hash))

        def done(f: concurrent.futures.Future[str]) -> None:
            # Runs on the committer thread: ``_mark_committed`` already marked the upload landed
            # and removed its staged bytes, so there is nothing left to write here.
            if not out.set_running_or_notify_cancel():
                return  # the request gave up waiting (its device retries)
            if f.exception() is not None:
                out.set_exception(RequestRejected(503, "commit_pending", "landing commit failed; retry",
                                                  retry_after=5))
                return
            out.set_result({"upload_id": upload_id, "state": "landed", "received": size, "content_hash": content_hash})

        fut.add_done_callback(done)
        return out

    def _forget_inflight(self, content_hash: str) -> None:
        with self._inflight_lock:
            self._inflight.pop(content_hash, None)

    def _commit_rows(self, rows: list[dict[str, Any]]) -> None:
        assert self._lease is None
        import uuid

        bid = uuid.uuid4().hex
        to_append = self._mark_batch(bid, rows)
        if to_append:
            self.landing.append(to_append, bid)
        self._mark_committed(bid, rows)

    def _mark_batch(self, batch_id: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Record which batch will carry these rows, before the append (see Committer).

        Returns the rows to append: each content once, as recorded in ``landed`` when it landed,
        leaving out content already committed. A row still tagged with an earlier batch whose
        outcome was never recorded (every append attempt failed, or so it seemed) is looked up
        in the table's snapshots first, and marked committed instead if that batch is there.
        """
        hashes = sorted({r["content_hash"] for r in rows})

        def read(c: Any) -> list[Any]:
            return list(c.execute(select(db.landed.c.content_hash, db.landed.c.batch_id, db.landed.c.row)
                                  .where(db.landed.c.content_hash.in_(hashes), db.landed.c.committed.is_(False)))
                        .all())

        with self.engine.connect() as c:
            pending = read(c)
        earlier = {r.batch_id for r in pending if r.batch_id}
        if earlier:
            done = earlier & self.landing.committed_batches()
            for bid in done:
                self._mark_committed(bid, [{"content_hash": r.content_hash} for r in pending if r.batch_id == bid])
            if done:
                with self.engine.connect() as c:
                    pending = read(c)
        chosen = [r.content_hash for r in pending]
        if chosen:
            # Only rows still uncommitted are tagged: a row committed since the read above keeps
            # its batch and is left out of the append by the rowcount check below.
            def tag(c: Any) -> list[str]:
                c.execute(update(db.landed).where(db.landed.c.content_hash.in_(chosen),
                                                  db.landed.c.committed.is_(False)).values(batch_id=batch_id))
                return [h for (h,) in c.execute(select(db.landed.c.content_hash).where(
                    db.landed.c.content_hash.in_(chosen), db.landed.c.batch_id == batch_id,
                    db.landed.c.committed.is_(False))).all()]

            tagged = set(self.writes.call(tag))
        else:
            tagged = set()
        return [_row_for_table(json.loads(r.row)) for r in pending if r.content_hash in tagged]

    def _mark_committed(self, batch_id: str, rows: list[dict[str, Any]]) -> None:
        hashes = sorted({r["content_hash"] for r in rows})

        def mark(c: Any) -> list[str]:
            c.execute(update(db.landed).where(db.landed.c.content_hash.in_(hashes),
                                              db.landed.c.committed.is_(False)).values(
                committed=True, batch_id=batch_id))
            # Every open upload of this content is done: the one that landed it, and others of the
            # same content (a device that crashed mid-upload and re-sealed) it supersedes.
            done = [r.id for r in c.execute(select(db.uploads.c.id).where(
                db.uploads.c.content_hash.in_(hashes), db.uploads.c.state == "open")).all()]
            if done:
                c.execute(update(db.uploads).where(db.uploads.c.id.in_(done)).values(
                    state="landed", updated_at=now()))
            return done

        for upload_id in self.writes.call(mark):
            self._staging(upload_id).unlink(missing_ok=True)

    def expire_uploads(self, older_than: float = 7 * 86400) -> int:
        """Drop open uploads nobody has touched for ``older_than`` seconds (and their staged bytes)."""
        horizon = now() - older_than
        with self.engine.begin() as c:
            stale = [r.id for r in c.execute(select(db.uploads.c.id).where(
                db.uploads.c.state == "open", db.uploads.c.updated_at < horizon)).all()]
            c.execute(update(db.uploads).where(db.uploads.c.id.in_(stale)).values(
                state="rejected", reason="abandoned", updated_at=now()))
        for upload_id in stale:
            self._staging(upload_id).unlink(missing_ok=True)
        return len(stale)

    def _finish_staging(self, upload_id: str, row: Any) -> None:
        self._staging(upload_id).unlink(missing_ok=True)
        self.writes.call(functools.partial(_update_upload, upload_id, state="landed", updated_at=now()))

    def recover(self) -> int:
        """After a crash: commit landed rows that never reached the table (idempotent by batch)."""
        with self.engine.connect() as c:
            pending = c.execute(select(db.landed).where(db.landed.c.committed.is_(False))).all()
        if not pending:
            return 0
        committed = self.landing.committed_batches()
        by_batch: dict[str | None, list[Any]] = {}
        for r in pending:
            by_batch.setdefault(r.batch_id, []).append(r)
        for bid, rows in by_batch.items():
            table_rows = [_row_for_table(json.loads(r.row)) for r in rows]
            if bid is not None and bid in committed:
                self._mark_committed(bid, table_rows)
            else:
                # Never appended (or no batch was assigned yet): append now under the recorded id.
                assert self._committer is not None
                self._committer.commit_now(table_rows, batch_id=bid)
        return len(pending)

    def _verify(self, fd: int, row: Any) -> dict[str, Any]:
        """Payload hash, decryption, MCAP structure and content hash of a fully received upload."""
        os.fsync(fd)  # the blob store links these bytes: they must be on disk
        with open(os.dup(fd), "rb") as fh:
            fh.seek(0)
            return verify_sealed_segment(fh, self.landing.key_for, row.payload_sha256, row.content_hash,
                                         row.segment_id)

    def landed_rows(self) -> list[dict[str, Any]]:
        return self.landing.scan_rows()

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as c:
            return {
                "devices": int(c.execute(select(func.count()).select_from(db.devices)).scalar_one()),
                "landed": int(c.execute(select(func.count()).select_from(db.landed)).scalar_one()),
                "open_uploads": int(c.execute(select(func.count()).select_from(db.uploads)
                                              .where(db.uploads.c.state == "open")).scalar_one()),
            }


class _Hashing(io.RawIOBase):
    """Hashes the bytes read through it (the MCAP plaintext, for the content hash)."""

    def __init__(self, inner: io.RawIOBase) -> None:
        super().__init__()
        self.inner = inner
        self.sha = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self.inner.readinto(b) or 0
        self.sha.update(memoryview(b)[:n])
        return n


class _Digesting:
    """A binary source that hashes what is read from it (the sealed payload, in the same pass)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.sha.update(data)
        return data

    def hexdigest(self) -> str:
        """The hash of everything, including what the reader did not get to."""
        while data := self.raw.read(4 * 2**20):
            self.sha.update(data)
        return self.sha.hexdigest()


def verify_sealed_segment(raw: BinaryIO, key_for: Callable[[Any], bytes], payload_sha256: str, content_hash: str,
                          segment_id: str) -> dict[str, Any]:
    """One pass over a sealed upload: its payload hash, decryption, MCAP structure and content hash.

    A payload that is not what its hash says is reported as such (damaged in transit) before
    any complaint about what it decrypts to.
    """
    src = _Digesting(raw)
    try:
        reader = SealedReader(src, key_for, name="upload")  # type: ignore[arg-type]
        info = check_segment(reader, content_hash, segment_id)
    except (RequestRejected, JobshadowError) as exc:
        if src.hexdigest() != payload_sha256:
            raise RequestRejected(422, "payload_hash_mismatch",
                                  "the payload does not match its declared SHA-256") from None
        if isinstance(exc, RequestRejected):
            raise
        raise RequestRejected(422, "not_decryptable", f"payload does not decrypt: {exc}") from None
    if src.hexdigest() != payload_sha256:
        raise RequestRejected(422, "payload_hash_mismatch", "the payload does not match its declared SHA-256")
    return info


def check_segment(plaintext: io.RawIOBase, content_hash: str, segment_id: str) -> dict[str, Any]:
    """Stream-check that bytes are a finished jobshadow MCAP segment with the claimed hash and id.

    Every top-level record must parse, every chunk must decompress and match its CRC, the file
    must end with a footer, and it must carry the jobshadow segment metadata. Message payloads
    are not parsed here (that is the curation stage's job); this is about integrity.
    """
    hashing = _Hashing(plaintext)
    reader = StreamReader(io.BufferedReader(hashing, 1 << 20), emit_chunks=True, record_size_limit=256 * 2**20)
    meta: dict[str, Any] = {}
    end: dict[str, Any] = {}
    footer = False
    chunks = 0
    zstd = zstandard.ZstdDecompressor()  # one per segment: a recorder segment has a chunk every 0.5 s
    try:
        for rec in reader.records:
            if isinstance(rec, Chunk):
                if rec.compression == "zstd":
                    data = zstd.decompress(rec.data, max_output_size=rec.uncompressed_size)
                elif rec.compression == "":
                    data = rec.data
                else:
                    raise RequestRejected(422, "not_mcap", f"unsupported chunk compression {rec.compression!r}")
                if len(data) != rec.uncompressed_size or (rec.uncompressed_crc and
                                                          zlib.crc32(data) != rec.uncompressed_crc):
                    raise RequestRejected(422, "not_mcap", "a chunk fails its CRC")
                chunks += 1
            elif isinstance(rec, Metadata):
                if rec.name == META_SEGMENT:
                    meta = decode_metadata(dict(rec.metadata))
                elif rec.name == META_END:
                    end = decode_metadata(dict(rec.metadata))
            elif isinstance(rec, Footer):
                footer = True
        rest = hashing.read()
        while rest:
            rest = hashing.read()
    except RequestRejected:
        raise
    except JobshadowError as exc:
        raise RequestRejected(422, "not_decryptable", f"payload does not decrypt: {exc}") from None
    except Exception as exc:  # mcap/zstd raise many types on garbage
        raise RequestRejected(422, "not_mcap",
                              f"payload is not a well-formed MCAP segment ({type(exc).__name__})") from None
    if not footer:
        raise RequestRejected(422, "not_mcap", "the MCAP segment is not finished (no footer)")
    if not meta:
        raise RequestRejected(422, "not_a_segment", "the MCAP file carries no jobshadow segment metadata")
    if hashing.sha.hexdigest() != content_hash:
        raise RequestRejected(422, "content_hash_mismatch", "the segment does not match its declared content hash")
    _check_metadata(meta, end)
    if meta.get("segment_id") != segment_id:
        raise RequestRejected(422, "segment_id_mismatch", "the segment id inside differs from the declared one")
    wall = float(meta.get("wall_offset", 0.0))
    return {
        "session_id": meta.get("session_id"),
        "started": meta.get("started"),
        "ended": end.get("ended"),
        "schema_version": int(meta.get("schema_version", 1)),
        "chunks": chunks,
        "wall_offset": wall,
    }


def _check_metadata(meta: dict[str, Any], end: dict[str, Any]) -> None:
    """The segment metadata the landing table stores must have the table's types and ranges.

    A device could write anything there; a value the table cannot hold would fail the Iceberg
    append of every batch it is in, holding back other devices' segments with it.
    """
    def bad(what: str) -> RequestRejected:
        return RequestRejected(422, "not_a_segment", f"the segment metadata has an invalid {what}")

    version = meta.get("schema_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= 1000:
        raise bad("schema_version")
    session = meta.get("session_id")
    if session is not None and (not isinstance(session, str) or len(session) > 128):
        raise bad("session_id")
    for name, value in (("started", meta.get("started")), ("ended", end.get("ended"))):
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > 64:
            raise bad(name)
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise bad(name) from None
    if not isinstance(meta.get("wall_offset", 0.0), int | float):
        raise bad("wall_offset")


def _claim_nonce(device_id: str, nonce: str, seen_at: float, c: Any) -> bool:
    """Record a request nonce; False if this device used it before (a replay)."""
    return insert_new(c, db.nonces, {"device_id": device_id, "nonce": nonce, "seen_at": seen_at},
                      ("device_id", "nonce"))


def _insert_new(table: Any, keys: tuple[str, ...], values: dict[str, Any], c: Any) -> bool:
    return insert_new(c, table, values, keys)


def _insert(table: Any, values: dict[str, Any], c: Any) -> None:
    c.execute(insert(table).values(values))


def _update_upload(upload_id: str, c: Any, **values: Any) -> None:
    c.execute(update(db.uploads).where(db.uploads.c.id == upload_id).values(**values))


def _blob_name(upload_id: str) -> str:
    return f"landing/{datetime.now(UTC):%Y/%m/%d}/{upload_id}.sealed"


def _row_for_table(r: dict[str, Any]) -> dict[str, Any]:
    out = dict(r)
    for k in ("landed_at", "started_at", "ended_at"):
        v = out.get(k)
        if isinstance(v, str):
            try:
                out[k] = datetime.fromisoformat(v)
            except ValueError:
                out[k] = None
    return out


def _hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()
