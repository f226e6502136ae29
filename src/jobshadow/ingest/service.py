"""The collector as a plain-Python service: its parts, composed (collector; no web code here).

Routes in ``jobshadow.ingest.app`` only parse and delegate; the rules live in modules of one job
each, which this class wires together with narrow arguments:

* ``ingest.auth`` — device request authentication (the shared ``RequestVerifier``);
* ``ingest.enrolment`` — enrolment and device configuration, a device's consent report;
* ``ingest.uploads`` — one-request and resumable uploads, landing, segment ownership;
* ``ingest.verify`` — one-pass verification of a sealed upload;
* ``ingest.commit`` — exactly-once landing-table commits across worker processes.

The collector reaches the governance state only through ``jobshadow.govern.CollectorDoor``: the
control state, the landing zone and an append-only audit hand, never a key that opens curated
data, the pseudonym key or the audit signing key (administration is the door's, over signed
requests by people). Refusals are ``RequestRejected(status, code, message)``.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select

from jobshadow.config import Settings
from jobshadow.device_api import DeviceConfig, EnrollResponse
from jobshadow.govern import CollectorDoor, Device
from jobshadow.ingest import db
from jobshadow.ingest.auth import DeviceAuth
from jobshadow.ingest.commit import LandingCommits
from jobshadow.ingest.enrolment import DeviceControl
from jobshadow.ingest.uploads import Uploads
from jobshadow.ingest.writer import GroupCommit

__all__ = ["CollectorService", "Device"]


class CollectorService:
    def __init__(self, settings: Settings, *, committer: bool = False) -> None:
        self.settings = settings
        url = CollectorDoor.database_url(settings)
        self.engine = db.make_engine(url)
        self.door = CollectorDoor(settings, self.engine)
        # Writes on the request path (nonces, activity times, uploads, landed rows) share one
        # transaction per round on one thread (see ingest.writer).
        sqlite_file = url.startswith("sqlite:///") and ":memory:" not in url
        self.writes = GroupCommit(self.engine, lock_path=self.door.state_dir / "control-plane.write.lock"
                                  if sqlite_file else None)
        self.landing = self.door.landing
        self.auth = DeviceAuth(self.door.people, self.writes, float(settings.server.clock_skew))
        self.control = DeviceControl(self.door)
        staging = self.door.staging_dir
        self.commits = LandingCommits(settings, self.engine, self.writes, self.landing, self.door.state_dir,
                                      lambda upload_id: staging / f"{upload_id}.part", committer=committer)
        self.uploads = Uploads(settings, self.engine, self.writes, self.door.programme, self.landing, staging,
                               self.commits)

    @property
    def commits_here(self) -> bool:
        """Whether this process appends landed rows to the landing table (holds the lease)."""
        return self.commits.commits_here

    def close(self) -> None:
        self.commits.close()
        self.writes.stop()
        self.door.close()
        self.engine.dispose()

    # --- devices ------------------------------------------------------------------------------------------
    def authenticate(self, method: str, target: str, body_sha256: str, headers: Mapping[str, str]) -> Device:
        return self.auth.authenticate(method, target, body_sha256, headers)

    def prune_nonces(self) -> int:
        return self.auth.prune_nonces()

    def enroll(self, code: str, public_key: bytes, name: str) -> EnrollResponse:
        return self.control.enroll(code, public_key, name)

    def device_config(self, device: Device) -> DeviceConfig:
        return self.control.device_config(device)

    def report_consent(self, device: Device, state: str) -> None:
        self.control.report_consent(device, state)

    def config_version(self) -> int:
        return self.control.config_version()

    def active_scope(self) -> dict[str, Any] | None:
        return self.control.active_scope()

    # --- uploads ------------------------------------------------------------------------------------------
    def begin_upload(self, device: Device, content_hash: str, payload_sha256: str, size: int,
                     segment_id: str) -> dict[str, Any]:
        return self.uploads.begin_upload(device, content_hash, payload_sha256, size, segment_id)

    def upload_status(self, device: Device, upload_id: str) -> dict[str, Any]:
        return self.uploads.upload_status(device, upload_id)

    def put_chunk(self, device: Device, upload_id: str, offset: int, data: bytes) -> dict[str, Any]:
        return self.uploads.put_chunk(device, upload_id, offset, data)

    def complete_upload(self, device: Device,
                        upload_id: str) -> concurrent.futures.Future[dict[str, Any]] | dict[str, Any]:
        return self.uploads.complete_upload(device, upload_id)

    def put_segment(self, device: Device, content_hash: str, segment_id: str, payload: bytes,
                    payload_sha256: str) -> concurrent.futures.Future[dict[str, Any]] | dict[str, Any]:
        return self.uploads.put_segment(device, content_hash, segment_id, payload, payload_sha256)

    def expire_uploads(self, older_than: float = 7 * 86400) -> int:
        return self.uploads.expire_uploads(older_than)

    def recover(self) -> int:
        return self.commits.recover()

    # --- what landed (operators and tests) ----------------------------------------------------------------
    def landed_rows(self) -> list[dict[str, Any]]:
        return self.landing.scan_rows()

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as c:
            return {
                "devices": self.door.people.count(),
                "landed": int(c.execute(select(func.count()).select_from(db.landed)).scalar_one()),
                "open_uploads": int(c.execute(select(func.count()).select_from(db.uploads)
                                              .where(db.uploads.c.state == "open")).scalar_one()),
            }
