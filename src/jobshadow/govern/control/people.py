"""People in the programme, their devices and enrolment codes (curated zone; no keys here).

A person is an e-mail address with a random person id; devices enrol with one-time codes bound
to a person (only the code's hash is stored). Erasure ends a person's part in the programme:
every device revoked, open codes dropped, and the e-mail → person link removed unless a legal
hold keeps it (``end_participation``). Refusals are ``RequestRejected``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from jobshadow.errors import RequestRejected
from jobshadow.govern.control import tables as t
from jobshadow.govern.control.programme import ProgrammeState, iso

EMAIL = re.compile(r"^[^@\s:]{1,64}@[^@\s]{1,255}$")
PERSON_ID = re.compile(r"^[0-9a-f]{16}$")
ERASED = "erased:"


@dataclass(frozen=True)
class Device:
    id: str
    person_id: str
    public_key: bytes
    revoked: bool


def hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode()).hexdigest()


def new_code() -> str:
    return "-".join(secrets.token_hex(3).upper() for _ in range(4))


def normal_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not EMAIL.match(email):
        raise RequestRejected(400, "invalid_email", "not an e-mail address")
    return email


class People:
    # (table, key, column) a device's last contact is written to, coalesced by the caller's writer.
    LAST_SEEN = (t.devices, t.devices.c.id, t.devices.c.last_seen)

    def __init__(self, engine: Engine, code_ttl: float) -> None:
        self.engine = engine
        self.code_ttl = code_ttl
        t.ensure_schema(engine)

    # --- people -----------------------------------------------------------------------------------------
    def _person_id(self, c: Any, email: str, create: bool) -> str:
        email = normal_email(email)
        row = c.execute(select(t.people.c.id).where(t.people.c.email == email)).first()
        if row is not None:
            return str(row.id)
        if not create:
            raise RequestRejected(404, "unknown_person", "no such person")
        pid = secrets.token_hex(8)
        c.execute(insert(t.people).values(id=pid, email=email, consent_state="unknown", created_at=time.time()))
        return pid

    def person_id(self, who: str) -> str:
        """The person id for an e-mail address (or a person id itself); 404 if unknown."""
        if PERSON_ID.match(who or ""):
            with self.engine.connect() as c:
                if c.execute(select(t.people.c.id).where(t.people.c.id == who)).first() is None:
                    raise RequestRejected(404, "unknown_person", "no such person")
            return who
        with self.engine.connect() as c:
            return self._person_id(c, who, create=False)

    def email_of(self, person_id: str) -> str | None:
        with self.engine.connect() as c:
            row = c.execute(select(t.people.c.email).where(t.people.c.id == person_id)).first()
        return None if row is None or str(row.email).startswith(ERASED) else str(row.email)

    # --- enrolment --------------------------------------------------------------------------------------
    def create_enroll_code(self, email: str) -> tuple[str, float, str]:
        """A one-time code bound to a person: (code, expiry, person id). Only its hash is stored."""
        code = new_code()
        now = time.time()
        expires = now + self.code_ttl
        with self.engine.begin() as c:
            pid = self._person_id(c, email, create=True)
            c.execute(insert(t.enroll_codes).values(code_hash=hash_code(code), person_id=pid, created_at=now,
                                                    expires_at=expires))
        return code, expires, pid

    def enroll(self, code: str, public_key: bytes, name: str) -> dict[str, Any]:
        """Redeem a code for a new device: its id, and whom it belongs to."""
        if not isinstance(code, str) or not 4 <= len(code) <= 64:
            raise RequestRejected(400, "invalid_code", "malformed enrolment code")
        if len(public_key) != 32:
            raise RequestRejected(400, "invalid_key", "the device key must be a 32-byte Ed25519 public key")
        name = (name or "")[:200]
        now = time.time()
        with self.engine.begin() as c:
            row = c.execute(select(t.enroll_codes).where(t.enroll_codes.c.code_hash == hash_code(code))).first()
            if row is None:
                raise RequestRejected(403, "invalid_code", "unknown enrolment code")
            if row.used_at is not None:
                raise RequestRejected(403, "code_used", "this enrolment code was already used")
            if row.expires_at < now:
                raise RequestRejected(403, "code_expired", "this enrolment code has expired")
            device_id = secrets.token_hex(8)
            try:
                c.execute(insert(t.devices).values(id=device_id, person_id=row.person_id, public_key=public_key,
                                                   name=name, enrolled_at=now))
            except IntegrityError:
                raise RequestRejected(409, "key_in_use", "this device key is already enrolled") from None
            done = c.execute(update(t.enroll_codes).where(t.enroll_codes.c.code_hash == row.code_hash,
                                                          t.enroll_codes.c.used_at.is_(None))
                             .values(used_at=now, device_id=device_id))
            if done.rowcount != 1:
                raise RequestRejected(403, "code_used", "this enrolment code was already used")
            email = str(c.execute(select(t.people.c.email).where(t.people.c.id == row.person_id)).scalar_one())
        return {"device_id": device_id, "person_id": row.person_id, "person": email}

    # --- devices ----------------------------------------------------------------------------------------
    def device(self, device_id: str) -> Device | None:
        with self.engine.connect() as c:
            row = c.execute(select(t.devices).where(t.devices.c.id == device_id)).first()
        if row is None:
            return None
        return Device(row.id, row.person_id, bytes(row.public_key), row.revoked_at is not None)

    def devices(self) -> list[dict[str, Any]]:
        with self.engine.connect() as c:
            rows = c.execute(select(t.devices, t.people.c.email).join(t.people)).all()
        return [{"device_id": r.id, "person": r.email, "name": r.name, "enrolled_at": iso(r.enrolled_at),
                 "revoked_at": iso(r.revoked_at), "last_seen": iso(r.last_seen)} for r in rows]

    def revoke_device(self, device_id: str) -> None:
        with self.engine.begin() as c:
            res = c.execute(update(t.devices).where(t.devices.c.id == device_id, t.devices.c.revoked_at.is_(None))
                            .values(revoked_at=time.time()))
            if res.rowcount == 0 and c.execute(select(t.devices.c.id).where(t.devices.c.id == device_id)).first() \
                    is None:
                raise RequestRejected(404, "unknown_device", "no such device")
            ProgrammeState.bump(c)

    def count(self) -> int:
        with self.engine.connect() as c:
            return len(c.execute(select(t.devices.c.id)).all())

    # --- erasure ----------------------------------------------------------------------------------------
    def end_participation(self, person_id: str, *, keep_link: bool) -> dict[str, int]:
        """Revoke every device, drop open codes, record consent withdrawn (capture stops), and remove
        the e-mail address unless ``keep_link`` (a legal hold) — all in one transaction."""
        now = time.time()
        with self.engine.begin() as c:
            revoked = c.execute(update(t.devices).where(t.devices.c.person_id == person_id,
                                                        t.devices.c.revoked_at.is_(None))
                                .values(revoked_at=now)).rowcount
            codes = c.execute(delete(t.enroll_codes).where(t.enroll_codes.c.person_id == person_id,
                                                           t.enroll_codes.c.used_at.is_(None))).rowcount
            values: dict[str, Any] = {"consent_state": "withdrawn", "consent_changed_at": now,
                                      "consent_source": "erasure"}
            if not keep_link:
                values["email"] = f"{ERASED}{person_id}"
            c.execute(update(t.people).where(t.people.c.id == person_id).values(**values))
            ProgrammeState.bump(c)
        return {"devices_revoked": int(revoked or 0), "codes_dropped": int(codes or 0),
                "email_removed": int(not keep_link)}
