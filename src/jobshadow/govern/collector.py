"""The door as the internet-facing collector sees it (landing zone; no curated key here).

The collector process holds exactly one key: the landing key, whose private half opens uploads
sealed to it, because a payload must be decrypted to be verified (its MCAP structure, content
hash and segment id) before it is acknowledged. It never opens the key-encryption key that
unwraps people's data keys, the pseudonym key, or the audit signing key: ``CollectorDoor`` gives
it the control state (people, devices, consent, kill switch, scopes: ``jobshadow.govern.control``,
which holds no key), the landing zone (sealed blobs and the Iceberg landing table), and an
append-only hand on the audit log — records it appends are signed into a checkpoint by the
governance door, which holds the signing key.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine

from jobshadow.config import Settings
from jobshadow.govern.audit import AuditLog, AuditRecord
from jobshadow.govern.control import People, ProgrammeState
from jobshadow.govern.landing import LandingZone
from jobshadow.govern.storage import Storage


class CollectorDoor:
    """Thread-safe. ``engine``: the collector's own pool on the control database."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self._storage = Storage(settings)
        self.programme = ProgrammeState(engine)
        self.people = People(engine, float(settings.server.enroll_code_ttl))
        self.landing = LandingZone(self._storage)
        self._audit: AuditLog | None = None
        self._audit_lock = threading.Lock()

    @staticmethod
    def database_url(settings: Settings) -> str:
        return Storage.database_url_of(settings)

    @property
    def state_dir(self) -> Path:
        """The server's private folder (locks, the commit lease)."""
        return self._storage.paths.root

    @property
    def staging_dir(self) -> Path:
        """Where uploads in progress are staged (0700)."""
        return self._storage.paths.staging

    def audit(self, principal: str, action: str, resource: str, decision: Literal["allow", "deny"] = "allow",
              reason: str = "", detail: dict[str, str | int] | None = None) -> None:
        """Append a control-plane record (a device's consent report, a scope that expired)."""
        with self._audit_lock:
            if self._audit is None:
                self._audit = AuditLog(self._storage.paths.audit_db)  # no signing key: append only
            self._audit.append(AuditRecord.create(principal=principal or "unknown", action=action, resource=resource,
                                                  purpose="programme_administration", decision=decision,
                                                  reason=reason, detail=detail or {}))

    def close(self) -> None:
        with self._audit_lock:
            if self._audit is not None:
                self._audit.close()
                self._audit = None
