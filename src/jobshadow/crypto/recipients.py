"""Sealing a file for a recipient's X25519 public key (shared: device seals, landing opens).

A fresh ephemeral X25519 key per file; the file's master key is
HKDF-SHA256(X25519(ephemeral, recipient), salt = ephemeral_pub || recipient_pub,
info = "jobshadow recipient seal v1"). The ephemeral public key and the recipient's key id ride
in the sealed header (authenticated as associated data of every chunk), so only the holder of the
recipient's private key can derive the master key — the sender itself cannot read the file back.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from jobshadow.crypto.sealed import SealedHeader
from jobshadow.errors import SpoolCorrupt, WrongKey

_INFO = b"jobshadow recipient seal v1"


def _raw_public(pub: X25519PublicKey) -> bytes:
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def recipient_id(public_raw: bytes) -> str:
    return hashlib.sha256(b"jobshadow recipient\x00" + public_raw).hexdigest()[:16]


def _derive(shared: bytes, eph_pub: bytes, rcpt_pub: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=eph_pub + rcpt_pub, info=_INFO).derive(shared)


@dataclass(frozen=True)
class SealTo:
    """What a sender needs: a per-file master key and the header fields that let the recipient derive it."""

    master: bytes
    header: dict[str, Any]


def seal_to(recipient_public_raw: bytes) -> SealTo:
    if len(recipient_public_raw) != 32:
        raise ValueError("an X25519 public key is 32 bytes")
    rcpt = X25519PublicKey.from_public_bytes(recipient_public_raw)
    eph = X25519PrivateKey.generate()
    eph_pub = _raw_public(eph.public_key())
    master = _derive(eph.exchange(rcpt), eph_pub, recipient_public_raw)
    return SealTo(master, {"recipient": recipient_id(recipient_public_raw),
                           "epk": base64.b64encode(eph_pub).decode()})


class Recipient:
    """A private X25519 key that opens files sealed to it. The key never appears in repr."""

    __slots__ = ("_key", "id", "public_raw")

    def __init__(self, private: X25519PrivateKey) -> None:
        self._key = private
        self.public_raw = _raw_public(private.public_key())
        self.id = recipient_id(self.public_raw)

    @classmethod
    def generate(cls) -> Recipient:
        return cls(X25519PrivateKey.generate())

    @classmethod
    def from_raw(cls, raw: bytes) -> Recipient:
        return cls(X25519PrivateKey.from_private_bytes(raw))

    def private_raw(self) -> bytes:
        return self._key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                       serialization.NoEncryption())

    def master_for(self, header: SealedHeader) -> bytes:
        """The master key of a file sealed to this recipient (a KeyResolver)."""
        if header.fields.get("recipient") != self.id:
            raise WrongKey(f"sealed for recipient {header.fields.get('recipient')!r}, not {self.id}")
        try:
            eph_pub = base64.b64decode(header.fields["epk"], validate=True)
            eph = X25519PublicKey.from_public_bytes(eph_pub)
        except (KeyError, ValueError, TypeError):
            raise SpoolCorrupt("sealed header has a malformed ephemeral key") from None
        return _derive(self._key.exchange(eph), eph_pub, self.public_raw)

    def __repr__(self) -> str:
        return f"Recipient(id={self.id!r}, key=***)"
