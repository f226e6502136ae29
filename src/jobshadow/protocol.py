"""The device ↔ collector wire protocol: paths, headers and request signatures (shared).

Every device request after enrolment is signed with the device's Ed25519 key over::

    JOBSHADOW-SIG-V1
    <METHOD>
    <path>?<query>            (exactly as sent; "?" omitted when there is no query)
    <hex SHA-256 of the body>
    <timestamp, integer seconds since the epoch>
    <nonce, 32 hex characters>
    <device id>

People (administrators, reviewers, researchers, …) sign their requests to the governance door
the same way with the key made at ``jobshadow login``; the signed id is then their principal
(``person:<email>``, sent as ``X-Jobshadow-Principal``), so it can never be taken for a device's.

The server refuses a request whose timestamp is outside its clock-skew window or whose nonce it
has already seen for that signer; ``RequestVerifier`` is the one check both servers run. No bearer
secret ever travels, so nothing that could leak from a log grants access.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from jobshadow.errors import RequestRejected

API = "/v1"
# What a collection scope can switch on, stream by stream.
STREAMS = ("keyboard", "mouse", "screen", "window")
H_DEVICE = "x-jobshadow-device"
H_TIMESTAMP = "x-jobshadow-timestamp"
H_NONCE = "x-jobshadow-nonce"
H_SIGNATURE = "x-jobshadow-signature"
H_PRINCIPAL = "x-jobshadow-principal"  # a governance principal (person:…, service:…) signing a query
SIGNED_HEADERS = (H_DEVICE, H_TIMESTAMP, H_NONCE, H_SIGNATURE)


def canonical(method: str, target: str, body_sha256: str, timestamp: int, nonce: str, device_id: str) -> bytes:
    return "\n".join(["JOBSHADOW-SIG-V1", method.upper(), target, body_sha256, str(timestamp), nonce,
                      device_id]).encode()


def sign_request(key: Ed25519PrivateKey, device_id: str, method: str, target: str, body: bytes,
                 now: float | None = None) -> dict[str, str]:
    """Headers that authenticate one request."""
    ts = int(time.time() if now is None else now)
    nonce = secrets.token_hex(16)
    digest = hashlib.sha256(body).hexdigest()
    sig = key.sign(canonical(method, target, digest, ts, nonce, device_id))
    return {H_DEVICE: device_id, H_TIMESTAMP: str(ts), H_NONCE: nonce,
            H_SIGNATURE: base64.b64encode(sig).decode()}


def sign_principal_request(key: Ed25519PrivateKey, principal: str, method: str, target: str, body: bytes,
                           now: float | None = None) -> dict[str, str]:
    """Headers that authenticate a principal's request (the signed id carries its ``kind:`` prefix,
    so it can never be taken for a device's)."""
    headers = sign_request(key, principal, method, target, body, now)
    headers[H_PRINCIPAL] = headers.pop(H_DEVICE)
    return headers


def verify_signature(public_raw: bytes, method: str, target: str, body_sha256: str, timestamp: int,
                     nonce: str, device_id: str, signature_b64: str) -> bool:
    try:
        sig = base64.b64decode(signature_b64, validate=True)
        Ed25519PublicKey.from_public_bytes(public_raw).verify(
            sig, canonical(method, target, body_sha256, timestamp, nonce, device_id))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


S = TypeVar("S")
DEVICE_ID = re.compile(r"[0-9a-f]{16}")
PRINCIPAL_ID = re.compile(r"(person|service):[A-Za-z0-9._@+\-]{1,300}")
NONCE = re.compile(r"[0-9a-f]{32}")


class RequestVerifier(Generic[S]):
    """The one check of a signed request, for devices (collector) and people (governance door).

    ``signer_of(id)`` returns ``(raw Ed25519 public key, signer)`` or None for an unknown id;
    ``admit(signer)`` may refuse a known signer whose signature verified (a revoked device);
    ``claim_nonce(id, nonce, now)`` records the nonce durably and returns False for one seen
    before. The order matters: nothing about a signer is revealed before its signature verifies,
    and a nonce is spent only by a request that is otherwise admitted. Every refusal is a
    ``RequestRejected`` (401, or what ``admit`` raises) with a stable code.
    """

    def __init__(self, id_header: str, id_pattern: re.Pattern[str], signer_of: Callable[[str], tuple[bytes, S] | None],
                 claim_nonce: Callable[[str, str, float], bool], skew: float, *,
                 admit: Callable[[S], None] | None = None, unknown_code: str = "unknown_signer") -> None:
        self.id_header = id_header
        self.id_pattern = id_pattern
        self.signer_of = signer_of
        self.claim_nonce = claim_nonce
        self.skew = skew
        self.admit = admit
        self.unknown_code = unknown_code

    def verify(self, method: str, target: str, body_sha256: str, headers: Mapping[str, str],
               now: float | None = None) -> S:
        """The signer of this request (``headers`` with lower-case names), or ``RequestRejected``."""
        signer_id, ts_text = headers.get(self.id_header, ""), headers.get(H_TIMESTAMP, "")
        nonce, sig = headers.get(H_NONCE, ""), headers.get(H_SIGNATURE, "")
        if not (signer_id and ts_text and nonce and sig):
            raise RequestRejected(401, "unsigned", "request is not signed (missing X-Jobshadow-* headers)")
        if not self.id_pattern.fullmatch(signer_id) or not NONCE.fullmatch(nonce):
            raise RequestRejected(401, "malformed_signature", "malformed signer id or nonce")
        try:
            ts = int(ts_text)
        except ValueError:
            raise RequestRejected(401, "malformed_signature", "timestamp is not an integer") from None
        t = time.time() if now is None else now
        if abs(t - ts) > self.skew:
            raise RequestRejected(401, "stale_request", f"request timestamp outside the {self.skew:.0f} s window")
        found = self.signer_of(signer_id)
        if found is None:
            raise RequestRejected(401, self.unknown_code, "unknown signer")
        public_raw, signer = found
        if not verify_signature(public_raw, method, target, body_sha256, ts, nonce, signer_id, sig):
            raise RequestRejected(401, "bad_signature", "signature does not verify")
        if self.admit is not None:
            self.admit(signer)
        if not self.claim_nonce(signer_id, nonce, t):
            raise RequestRejected(401, "replayed_request", "this request was already received")
        return signer
