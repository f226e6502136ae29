"""Device request authentication for the collector (collector; see ``jobshadow.protocol``).

The one ``RequestVerifier`` checks the signature over method, path, body hash, time and nonce;
this module gives it what only the collector knows: a device's registered key (revoked devices
are refused after their signature verifies), and a durable nonce store. A nonce is committed
before the request has any effect (the group commit answers after its transaction committed), so
a replay is refused even after a crash and restart; the unique key decides between two
concurrent uses of one nonce.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete

from jobshadow.errors import RequestRejected
from jobshadow.govern import Device, People
from jobshadow.ingest import db
from jobshadow.ingest.writer import GroupCommit, insert_new
from jobshadow.protocol import DEVICE_ID, H_DEVICE, RequestVerifier


def _claim(device_id: str, nonce: str, seen_at: float, c: Any) -> bool:
    return insert_new(c, db.nonces, {"device_id": device_id, "nonce": nonce, "seen_at": seen_at},
                      ("device_id", "nonce"))


def _refuse_revoked(device: Device) -> None:
    if device.revoked:
        raise RequestRejected(403, "device_revoked", "this device has been revoked")


class DeviceAuth:
    def __init__(self, people: People, writes: GroupCommit, skew: float) -> None:
        self.writes = writes
        self.skew = skew

        def signer_of(device_id: str) -> tuple[bytes, Device] | None:
            d = people.device(device_id)
            return None if d is None else (d.public_key, d)

        def claim(device_id: str, nonce: str, now: float) -> bool:
            return bool(writes.call(functools.partial(_claim, device_id, nonce, now)))

        self.verifier = RequestVerifier(H_DEVICE, DEVICE_ID, signer_of, claim, skew, admit=_refuse_revoked,
                                        unknown_code="unknown_device")

    def authenticate(self, method: str, target: str, body_sha256: str, headers: Mapping[str, str]) -> Device:
        device = self.verifier.verify(method, target, body_sha256, headers)
        self.writes.touch(*People.LAST_SEEN, device.id, time.time())
        return device

    def prune_nonces(self) -> int:
        """Forget nonces older than twice the replay window (a request that old is refused as stale)."""
        horizon = time.time() - 2 * self.skew

        def prune(c: Any) -> int:
            return int(c.execute(delete(db.nonces).where(db.nonces.c.seen_at < horizon)).rowcount or 0)

        return self.writes.call(prune)
