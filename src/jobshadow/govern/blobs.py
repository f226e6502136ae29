"""Blobs behind the door: landed segments and per-subject sealed screen media (curated zone)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from jobshadow.crypto.sealed import open_sealed
from jobshadow.govern.expr import eq
from jobshadow.govern.keys import KeyUnavailable
from jobshadow.govern.model import PolicyDenied
from jobshadow.lake import curated

if TYPE_CHECKING:
    from jobshadow.govern.audit import AuditRecord
    from jobshadow.govern.control import ProgrammeState
    from jobshadow.govern.keys import SubjectKeys
    from jobshadow.govern.policy import PolicyEngine
    from jobshadow.govern.storage import Storage
    from jobshadow.govern.tables import GovernedTables


class Blobs:
    """Mixed into ``Governance``."""

    if TYPE_CHECKING:
        storage: Storage
        tables: GovernedTables
        policy: PolicyEngine
        control: ProgrammeState
        keys: SubjectKeys

        def audit(self, records: list[AuditRecord]) -> None: ...

        def _record(self, principal: str, action: str, resource: str, purpose: str, allowed: bool,
                    policy_ids: tuple[str, ...] | list[str], reason: str = "", subject: str | None = None,
                    detail: dict[str, str | int] | None = None) -> AuditRecord: ...


    def open_landed(self, principal: str, purpose: str, blob_uri: str, content_hash: str) -> bytes:
        """The MCAP bytes of a landed segment (sealed to the landing key in the object store)."""
        d = self.policy.authorize(principal, "read", "landing.segments#blob_uri", purpose)
        # Whose segment this is, so the read is attributed to them (`audit who`, `subject export`).
        found = self.tables.scan("landing.segments", ["person_id"], eq("content_hash", content_hash))
        people = [p for p in found.column("person_id").to_pylist() if p]
        subject = self.keys.pseudonym(people[0]) if people else None
        self.audit([self._record(principal, "read", "blob:landing", purpose, d.allowed, d.policy_ids,
                                 subject=subject, detail={"content_hash": content_hash})])
        if not d.allowed:
            raise PolicyDenied(f"{principal} may not open landed segments for {purpose}")
        store = self.storage.object_store
        name = store.name_of(blob_uri)
        try:
            with store.open(name) as fh:
                data = fh.read()
        except FileNotFoundError:
            # Withdrawn while the caller held an older list, not lost: erasure destroys the
            # person's key before it removes their landed blobs, retention removes a landed row
            # before its blob. A blob missing for a live row of a live person is a loss.
            gone = subject is None or not self.keys.available([subject]) or not self.tables.scan(
                "landing.segments", ["content_hash"], eq("content_hash", content_hash)).num_rows
            if gone:
                raise KeyUnavailable("the landed segment was erased or expired meanwhile") from None
            raise
        return open_sealed(io.BytesIO(data), self.storage.landing_recipient.master_for, name="landed blob").plaintext

    def landing_paused(self) -> bool:
        """True while the kill switch holds the programme (and so the landing zone) paused."""
        return bool(self.control.programme()["state"] == "paused")

    def discard_landed(self, principal: str, purpose: str, blob_uri: str, content_hash: str) -> None:
        """Delete a landed blob once curated: its content now lives, sealed per subject, in the lake."""
        d = self.policy.authorize(principal, "write", "landing.segments", purpose)
        self.audit([self._record(principal, "delete", "blob:landing", purpose, d.allowed, d.policy_ids,
                                 detail={"content_hash": content_hash})])
        if not d.allowed:
            raise PolicyDenied(f"{principal} may not discard landed segments for {purpose}")
        store = self.storage.object_store
        name = store.name_of(blob_uri)
        if store.exists(name):
            store.delete(name)

    def write_media(self, principal: str, purpose: str, subject: str, segment: str, data: bytes) -> None:
        """Store a segment's screen media sealed under the subject's key."""
        d = self.policy.authorize(principal, "write", curated.FRAMES.name, purpose)
        self.audit([self._record(principal, "write", "blob:media", purpose, d.allowed, d.policy_ids,
                                 subject=subject, detail={"bytes": len(data)})])
        if not d.allowed:
            raise PolicyDenied(f"{principal} may not store media for {purpose}")
        self.tables.put_media(subject, segment, data)
