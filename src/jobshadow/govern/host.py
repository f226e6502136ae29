"""Host maintenance: the door's state opened directly, on the server itself (curated zone).

Only ``jobshadow server …`` uses this (and tests and benchmarks standing in for it): everyone
else reaches the door through signed requests. ``init_admin`` makes the first administrator's
one-time login code, once; ``open_programme`` gives the programme's levers (scopes, reviews, the
kill switch, enrolment codes) without loading the lake, audited like the door's own changes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from jobshadow.config import Settings
from jobshadow.dbengine import sql_engine
from jobshadow.errors import RequestRejected
from jobshadow.govern.audit import AuditRecord
from jobshadow.govern.control import People, ProgrammeState
from jobshadow.govern.control.admin import ProgrammeAdmin
from jobshadow.govern.control.tables import metadata as control_metadata
from jobshadow.govern.duties import Duties
from jobshadow.govern.heads import trail
from jobshadow.govern.landing import LandingZone
from jobshadow.govern.state import metadata as state_metadata
from jobshadow.govern.storage import Storage

HOST = "host:server-init"


def init_admin(settings: Settings, email: str) -> tuple[str, float]:
    """The first administrator's one-time login code; refused once an administrator exists."""
    storage = Storage(settings)
    engine = sql_engine(storage.database_url, state_metadata)
    try:
        duties = Duties(engine, float(settings.server.enroll_code_ttl))
        if duties.has_admin():
            raise RequestRejected(409, "already_initialised",
                                  "this server already has an administrator (or an open invitation for one); "
                                  "administrators invite others with `jobshadow admin invite`")
        code, expires = duties.invite(email, ["admin"], HOST)
        with trail(storage) as log:
            log.append_many([AuditRecord.create(principal=HOST, action="admin.invite",
                                                resource=f"person:{email.strip().lower()}",
                                                purpose="programme_administration", decision="allow",
                                                detail={"roles": "admin"})])
        return code, expires
    finally:
        engine.dispose()


@contextlib.contextmanager
def open_programme(settings: Settings) -> Iterator[ProgrammeAdmin]:
    """The programme's levers on this host's state, each change audited and published."""
    storage = Storage(settings)
    engine = sql_engine(storage.database_url, control_metadata)
    landing = LandingZone(storage)
    with trail(storage) as log:
        def audit(records: list[AuditRecord]) -> None:
            log.append_many(records)

        admin = ProgrammeAdmin(ProgrammeState(engine), People(engine, float(settings.server.enroll_code_ttl)), audit,
                               on_programme=landing.set_quarantined, landed=landing.scan_rows)
        try:
            yield admin
        finally:
            engine.dispose()
