"""The device ↔ collector wire protocol: paths, headers and request signatures (shared).

Every device request after enrolment is signed with the device's Ed25519 key over::

    JOBSHADOW-SIG-V1
    <METHOD>
    <path>?<query>            (exactly as sent; "?" omitted when there is no query)
    <hex SHA-256 of the body>
    <timestamp, integer seconds since the epoch>
    <nonce, 32 hex characters>
    <device id>

The collector refuses a request whose timestamp is outside its clock-skew window or whose nonce
it has already seen for that device. No bearer secret ever travels, so nothing that could leak
from a log grants access.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

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
