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

import msgspec

from jobshadow.device_api import Consent, DeviceConfig, DeviceStatus, EnrollResponse, Programme, Scope, UploadPolicy
from jobshadow.govern import CollectorDoor, Device


class DeviceControl:
    def __init__(self, door: CollectorDoor) -> None:
        self.door = door

    def enroll(self, code: str, public_key: bytes, name: str) -> EnrollResponse:
        out = self.door.people.enroll(code, public_key, name)
        return EnrollResponse(out["device_id"], out["person_id"], out["person"], self.door.landing.public_key.hex(),
                              time.time())

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

    def device_config(self, device: Device) -> DeviceConfig:
        programme = self.door.programme.programme()
        consent = self.door.programme.consent_of(device.person_id)
        scope = self.active_scope()
        cfg = DeviceConfig(
            "", Programme(programme["state"], programme["reason"]), Consent(consent),
            msgspec.convert(scope, Scope) if scope is not None else None,
            UploadPolicy(programme["state"] == "running" and consent != "withdrawn"),
            DeviceStatus(device.id, device.revoked))
        body = msgspec.to_builtins(cfg)
        del body["etag"]
        etag = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]
        return msgspec.structs.replace(cfg, etag=etag)
