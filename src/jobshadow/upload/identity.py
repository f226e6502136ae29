"""This device's identity with the collector: its Ed25519 key and enrolment record (device zone).

``jobshadow device enroll`` generates the key pair here (the private key never leaves the
device; 0600 PEM under ``JOBSHADOW_HOME/keys``), redeems the one-time code, and stores what the
collector returned: the device id, the person it belongs to, and the landing service's public key
that uploads are sealed to.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from jobshadow.errors import InputError, StateError
from jobshadow.home import Home, write_private


@dataclass(frozen=True)
class DeviceIdentity:
    device_id: str
    person: str
    person_id: str
    server_url: str
    landing_public_key: bytes
    enrolled_at: str
    key: Ed25519PrivateKey

    def __repr__(self) -> str:
        return f"DeviceIdentity(device_id={self.device_id!r}, server_url={self.server_url!r}, key=***)"

    def as_json(self) -> dict[str, Any]:
        return {"device_id": self.device_id, "person": self.person, "person_id": self.person_id,
                "server_url": self.server_url, "enrolled_at": self.enrolled_at,
                "landing_public_key": self.landing_public_key.hex()}


def _paths(home: Home) -> tuple[Path, Path]:
    return home.state_dir / "device.json", home.keys_dir / "device.pem"


def check_server_url(url: str) -> str:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InputError(f"{url!r} is not an http(s) URL of a collector")
    if parsed.scheme == "http" and parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise InputError("plain http is only allowed to a collector on this machine (127.0.0.1); use https")
    return url.rstrip("/")


def load_identity(home: Home) -> DeviceIdentity | None:
    meta_path, key_path = _paths(home)
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if os.stat(key_path).st_mode & 0o077:
            raise StateError(f"{key_path} is readable by other users; fix with: chmod 600 {key_path}")
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, KeyError) as exc:
        raise StateError(
            f"the device enrolment in {home.root} is damaged ({type(exc).__name__}); enrol again") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise StateError("the device key is not an Ed25519 key; enrol again")
    return DeviceIdentity(meta["device_id"], meta["person"], meta["person_id"], meta["server_url"],
                          bytes.fromhex(meta["landing_public_key"]), meta["enrolled_at"], key)


def enroll(home: Home, server_url: str, code: str, name: str | None = None) -> DeviceIdentity:
    """Create a key pair, redeem ``code`` at the collector, and store the enrolment."""
    from jobshadow.upload.client import CollectorClient

    home.ensure()
    url = check_server_url(server_url)
    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    with CollectorClient(url) as client:
        reply = client.enroll(code.strip(), pub.hex(), name or socket.gethostname()[:200])
    meta_path, key_path = _paths(home)
    write_private(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    identity = DeviceIdentity(reply.device_id, reply.person, reply.person_id, url,
                              bytes.fromhex(reply.landing_public_key),
                              datetime.now(UTC).isoformat(timespec="seconds"), key)
    write_private(meta_path, json.dumps(identity.as_json(), indent=2).encode())
    return identity
