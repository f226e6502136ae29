"""Consent as governance sees it: which subjects withdrew (curated zone).

The control plane owns consent (devices report it, people change it); it mirrors every change
here, keyed by pseudonymous subject, so the door can drop a withdrawn person's rows from every
read for a purpose that needs consent (model training) without reading the control plane's
tables. A person who gives consent again is readable again; erasure is a separate, final step.
"""

from __future__ import annotations

import time

from sqlalchemy import Column, Float, MetaData, String, Table, delete, insert, select

from jobshadow.govern.keys import pseudonym
from jobshadow.govern.storage import Storage, sql_engine

metadata = MetaData()

subject_consent = Table(
    "subject_consent", metadata,
    Column("subject", String(64), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("changed_at", Float, nullable=False),
)

STATES = ("given", "withdrawn", "unknown")


class ConsentMirror:
    def __init__(self, storage: Storage) -> None:
        self._key = storage.pseudonym_key
        self.engine = sql_engine(storage.database_url, metadata)

    def close(self) -> None:
        self.engine.dispose()

    def record(self, person_id: str, state: str) -> None:
        if state not in STATES:
            raise ValueError(f"consent state must be one of {STATES}")
        subject = pseudonym(self._key, person_id)
        with self.engine.begin() as c:
            c.execute(delete(subject_consent).where(subject_consent.c.subject == subject))
            c.execute(insert(subject_consent).values(subject=subject, state=state, changed_at=time.time()))

    def withdrawn(self) -> set[str]:
        with self.engine.connect() as c:
            rows = c.execute(select(subject_consent.c.subject).where(subject_consent.c.state == "withdrawn"))
            return {r.subject for r in rows}

    def state(self, subject: str) -> str:
        with self.engine.connect() as c:
            row = c.execute(select(subject_consent.c.state).where(subject_consent.c.subject == subject)).first()
        return "unknown" if row is None else str(row.state)
