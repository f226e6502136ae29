"""Signed notes, verifier keys and witness cosignatures, as C2SP specifies them (governance).

Pure functions over text and Ed25519 keys, no I/O; shared by the log, its witnesses and
verifiers, so it may run on a machine that holds nothing else of jobshadow.

* A *note* (c2sp.org/signed-note) is UTF-8 text ending in a newline, a blank line, then one
  signature line per key: ``— <key name> base64(4-byte key id || signature)``.
* A *verifier key* ("vkey") names a key in one line: ``<name>+<8 hex key id>+base64(type ||
  32-byte public key)``; type ``0x01`` is an Ed25519 note signer (the log), ``0x04`` an Ed25519
  timestamped cosigner (a witness). The key id is ``SHA-256(name || 0x0A || type || key)[:4]``.
* A *cosignature* (c2sp.org/tlog-cosignature, v1) signs ``cosignature/v1``, ``time <unix
  seconds>`` and the cosigned note's text; its signature bytes are ``u64 timestamp || Ed25519``.

Parsing is strict: control characters, a missing blank line, malformed base64 and unknown shapes
are refused with ``AuditHeadError`` before any signature is checked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from jobshadow.govern.audit.errors import AuditHeadError, AuditKeyError

ED25519: Final = 0x01
COSIGNATURE_V1: Final = 0x04
DASH: Final = "\u2014"
MAX_NOTE: Final = 64 * 1024
MAX_SIGNATURES: Final = 32


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" or ord(c) < 0x20 for c in name):
        raise AuditKeyError(f"key name {name!r} must be non-empty, without spaces or '+'")


def note_key_id(name: str, kind: int, key: Ed25519PublicKey) -> bytes:
    """The 4-byte key id of ``key`` under ``name`` for signature type ``kind``."""
    _check_name(name)
    return hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + _raw(key)).digest()[:4]


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A named public key of one signature type (a log's or a witness's)."""

    name: str
    kind: int
    key: Ed25519PublicKey

    @property
    def key_id(self) -> bytes:
        return note_key_id(self.name, self.kind, self.key)

    def __str__(self) -> str:
        blob = base64.b64encode(bytes([self.kind]) + _raw(self.key)).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{blob}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """Parse ``name+hexid+base64``; the id must match the key (catches copy errors)."""
        parts = text.strip().split("+", 2)  # base64 may hold "+"; names may not
        if len(parts) != 3:
            raise AuditKeyError("a verifier key looks like NAME+KEYID+BASE64")
        name, hexid, blob = parts
        try:
            raw = base64.b64decode(blob, validate=True)
        except (ValueError, binascii.Error):
            raise AuditKeyError("the verifier key's key is not base64") from None
        if len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE_V1):
            raise AuditKeyError("the verifier key is not an Ed25519 note or cosignature key")
        vkey = cls(name, raw[0], Ed25519PublicKey.from_public_bytes(raw[1:]))
        if vkey.key_id.hex() != hexid.lower():
            raise AuditKeyError(f"the verifier key {name} has a key id that does not match its key")
        return vkey


@dataclass(frozen=True, slots=True)
class Signature:
    """One signature line of a note."""

    name: str
    key_id: bytes
    data: bytes

    def line(self) -> str:
        blob = base64.b64encode(self.key_id + self.data).decode("ascii")
        return f"{DASH} {self.name} {blob}\n"


@dataclass(frozen=True, slots=True)
class Note:
    """A note's text (ending in a newline) and its signature lines."""

    text: str
    signatures: tuple[Signature, ...]

    def render(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)

    def by(self, vkey: VerifierKey) -> list[Signature]:
        """Signatures whose name and key id are those of ``vkey`` (others are ignored)."""
        kid = vkey.key_id
        return [s for s in self.signatures if s.name == vkey.name and s.key_id == kid]


def parse_note(data: str | bytes) -> Note:
    """Split a note into text and signature lines; no signature is checked here."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise AuditHeadError("the note is not UTF-8") from None
    if len(data) > MAX_NOTE:
        raise AuditHeadError("the note is too long")
    if any(ord(c) < 0x20 and c != "\n" for c in data):
        raise AuditHeadError("the note holds control characters")
    cut = data.rfind("\n\n")
    if cut < 0 or not data.endswith("\n"):
        raise AuditHeadError("the note has no blank line before its signatures")
    text, lines = data[: cut + 1], data[cut + 2 :].splitlines()
    if not lines or len(lines) > MAX_SIGNATURES:
        raise AuditHeadError("the note has no signature lines, or too many")
    sigs = []
    for line in lines:
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH:
            raise AuditHeadError("a note signature line is malformed")
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except (ValueError, binascii.Error):
            raise AuditHeadError("a note signature is not base64") from None
        if len(raw) < 5:
            raise AuditHeadError("a note signature is too short")
        sigs.append(Signature(parts[1], raw[:4], raw[4:]))
    return Note(text, tuple(sigs))


# --- the log's own signature (type 0x01) -------------------------------------------------------
def note_signature(name: str, key: Ed25519PublicKey, signature: bytes) -> Signature:
    """The signature line for an Ed25519 ``signature`` over a note text by the log's key."""
    return Signature(name, note_key_id(name, ED25519, key), signature)


def verify_note_signature(note: Note, vkey: VerifierKey) -> None:
    """Raise ``AuditHeadError`` unless ``vkey`` (type 0x01) signed ``note.text``."""
    found = note.by(vkey)
    if not found:
        raise AuditHeadError(f"the note carries no signature by {vkey.name}")
    for sig in found:
        try:
            vkey.key.verify(sig.data, note.text.encode())
        except InvalidSignature:
            raise AuditHeadError(f"the signature by {vkey.name} does not verify") from None


# --- witness cosignatures (type 0x04) ----------------------------------------------------------
def cosigned_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def cosign(name: str, key: Ed25519PrivateKey, text: str, timestamp: int) -> Signature:
    """A witness's timestamped cosignature over a checkpoint's note text."""
    if not 0 <= timestamp < 2**63:
        raise AuditHeadError("a cosignature time must be in [0, 2**63)")
    sig = key.sign(cosigned_message(text, timestamp))
    kid = note_key_id(name, COSIGNATURE_V1, key.public_key())
    return Signature(name, kid, struct.pack(">Q", timestamp) + sig)


def verify_cosignature(note: Note, vkey: VerifierKey) -> int:
    """The time of ``vkey``'s valid cosignature on ``note``; ``AuditHeadError`` if there is none."""
    if vkey.kind != COSIGNATURE_V1:
        raise AuditKeyError(f"{vkey.name} is not a cosigner key")
    found = note.by(vkey)
    if not found:
        raise AuditHeadError(f"the checkpoint carries no cosignature by {vkey.name}")
    latest = -1
    for sig in found:
        if len(sig.data) != 72:
            raise AuditHeadError(f"the cosignature by {vkey.name} has the wrong length")
        (timestamp,) = struct.unpack(">Q", sig.data[:8])
        try:
            vkey.key.verify(sig.data[8:], cosigned_message(note.text, timestamp))
        except InvalidSignature:
            raise AuditHeadError(f"the cosignature by {vkey.name} does not verify") from None
        latest = max(latest, timestamp)
    return latest
