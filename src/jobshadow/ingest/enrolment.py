"""Enrolment and what devices must obey: the control plane as devices see it (collector).

A device enrols with a one-time code bound to a person and gets its id and the landing key's
public half (uploads are sealed to it). Its configuration — the kill switch, its person's
consent, the active scope (only a privacy-reviewed scope can be active), its own revocation — is
read from the governance door's control state on every poll, so a change takes effect on the
next request. A device's own consent report is recorded there and audited as that device's act.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from jobshadow.govern import CollectorDoor, Device


class DeviceControl:
    def __init__(self, door: CollectorDoor) -> None:
        self.door = door

    def enroll(self, code: str, public_key: bytes, name: str) -> dict[str, Any]:
        out = self.door.people.enroll(code, public_key, name)
        return {**out, "landing_public_key": self.door.landing.public_key.hex(), "server_time": time.time()}

    def config_version(self) -> int:
        return self.door.programme.config_version()

    def active_scope(self) -> dict[str, Any] | None:
        """The active scope (one whose review expired is deactivated here, and that is audited)."""
        return self.door.programme.active_scope(lambda name: self.door.audit(
            "system", "scope.deactivate", f"scope:{name}", reason="privacy review expired"))

    def report_consent(self, device: Device, state: str) -> None:
        """The person changed their consent on this device."""
        self.door.programme.set_consent(device.person_id, state, "device")
        self.door.audit(f"device:{device.id}", f"consent.{state}", f"person:{device.person_id}",
                        detail={"source": "device"})

    def device_config(self, device: Device) -> dict[str, Any]:
        programme = self.door.programme.programme()
        consent = self.door.programme.consent_of(device.person_id)
        body: dict[str, Any] = {
            "programme": {"state": programme["state"], "reason": programme["reason"]},
            "consent": {"state": consent},
            "scope": self.active_scope(),
            "upload": {"allowed": programme["state"] == "running" and consent != "withdrawn"},
            "device": {"id": device.id, "revoked": device.revoked},
        }
        body["etag"] = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]
        return body
