"""The device ↔ collector API bodies: one struct per body, shared by both sides (device and collector).

The collector decodes requests into these structs (``forbid_unknown_fields``: a malformed request
is refused, never half-read) and builds its answers from them; the device decodes answers into
the same structs, ignoring fields a newer collector may add. The collector's OpenAPI document
(``jobshadow.ingest.schemas``) is generated from them too, so spec, server and device cannot
drift apart. Only msgspec is imported: the recorder loads this module.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

import msgspec
from msgspec import Meta

from jobshadow.protocol import STREAMS

Hex64 = Annotated[str, Meta(pattern="^[0-9a-f]{64}$")]
Names = tuple[str, ...]


class _Request(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A body the collector receives: unknown fields are an error."""


class _Answer(msgspec.Struct, frozen=True):
    """A body the device receives: fields it does not know are ignored (a newer collector)."""


# --- requests -------------------------------------------------------------------------------------
class EnrollRequest(_Request, forbid_unknown_fields=True, frozen=True):
    code: Annotated[str, Meta(min_length=4, max_length=64)]
    public_key: Annotated[str, Meta(pattern="^[0-9a-f]{64}$", description="Ed25519 public key, hex")]
    name: Annotated[str, Meta(max_length=200)] = ""


class ConsentRequest(_Request, forbid_unknown_fields=True, frozen=True):
    state: Literal["given", "withdrawn"]


class BeginUploadRequest(_Request, forbid_unknown_fields=True, frozen=True):
    content_hash: Hex64
    payload_sha256: Hex64
    size: Annotated[int, Meta(gt=0)]
    segment_id: Annotated[str, Meta(pattern="^[0-9A-Za-z_.-]{1,64}$")]


# --- answers --------------------------------------------------------------------------------------
class EnrollResponse(_Answer, frozen=True):
    device_id: str
    person_id: str
    person: str
    landing_public_key: str
    server_time: float


class UploadState(_Answer, frozen=True):
    """Where an upload stands: ``received`` bytes so far, or ``landed`` for good."""

    upload_id: str
    state: Literal["open", "landed", "rejected"]
    received: int
    size: int | None = None
    reason: str | None = None
    content_hash: str | None = None


class ConsentReply(_Answer, frozen=True):
    ok: bool
    state: str


class ErrorDetail(_Answer, frozen=True):
    code: str
    message: str


class ErrorBody(_Answer, frozen=True):
    error: ErrorDetail


# --- the device's configuration (GET /v1/device/config) --------------------------------------------
class Programme(_Answer, frozen=True):
    state: Literal["running", "paused"]
    reason: str = ""


class Consent(_Answer, frozen=True):
    state: str  # given, withdrawn, or unknown (never said)


class Scope(_Answer, frozen=True):
    """The active collection scope (reviewed and approved before it could be activated)."""

    name: str
    version: int
    apps: Names = ()
    deny_apps: Names = ()
    allow_titles: Names = ()
    deny_titles: Names = ()
    streams: Names = STREAMS
    purposes: Names = ()
    retention_days: int | None = None


class UploadPolicy(_Answer, frozen=True):
    allowed: bool


class DeviceStatus(_Answer, frozen=True):
    id: str = ""
    revoked: bool = False


class DeviceConfig(_Answer, frozen=True):
    """Everything a device must obey; ``etag`` changes whenever anything else does."""

    etag: str
    programme: Programme
    consent: Consent
    scope: Scope | None
    upload: UploadPolicy
    device: DeviceStatus

    @classmethod
    def revoked(cls) -> DeviceConfig:
        """What a device obeys once the collector says it was revoked: capture and uploads stop."""
        return cls("revoked", Programme("running"), Consent("unknown"), None, UploadPolicy(False),
                   DeviceStatus(revoked=True))

    def upload_blocker(self) -> str | None:
        """Why this configuration holds uploads (None: they may proceed)."""
        if self.device.revoked:
            return "this device was revoked"
        if self.programme.state != "running":
            return "the programme is paused"
        if self.consent.state == "withdrawn":
            return "consent was withdrawn at the collector"
        if not self.upload.allowed:
            return "the collector does not accept uploads from this device"
        return None


A = TypeVar("A", bound=_Answer)


def decode_answer(data: bytes, typ: type[A]) -> A:
    """An answer body as ``typ``; ``msgspec.ValidationError``/``DecodeError`` when it is not one."""
    return msgspec.json.decode(data, type=typ)
