"""Signed tree heads: checkpoints of the log signed by its key (curated zone / governance).

A signed head commits the log to its first ``tree_size`` leaves; anyone holding it and the public
key can later demand inclusion and consistency proofs against it. The signed message is a C2SP
checkpoint (c2sp.org/tlog-checkpoint) with one extension line, the time it was signed::

    jobshadow/audit/<key_id>
    <tree_size, decimal>
    <root hash, standard base64>
    time <YYYY-MM-DDTHH:MM:SS.ffffffZ>

so the same signature makes the head a signed note (``to_note``) that witnesses co-sign. The
origin line names the log by its key id, so a head can be rebuilt from its stored fields.

Heads travel as JSON (``to_json`` / ``from_json``), with the root in hex and the signature in
standard base64, or as signed notes (``to_note`` / ``from_note``). Parsing is strict: unknown or
missing keys, wrong lengths and non-canonical numbers are rejected before any signature check.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from jobshadow.govern.audit.errors import AuditHeadError, AuditRecordError
from jobshadow.govern.audit.keys import key_id
from jobshadow.govern.audit.merkle import HASH_SIZE
from jobshadow.govern.audit.note import ED25519, Note, VerifierKey, note_signature, verify_note_signature
from jobshadow.govern.audit.record import canonical_json, format_time, parse_time
from jobshadow.govern.audit.signer import HeadSigner, as_signer

HEAD_FORMAT: Final = "jobshadow-audit-sth/2"
ORIGIN_PREFIX: Final = "jobshadow/audit/"
_SIGNATURE_SIZE: Final = 64
_KEYS: Final = frozenset({"format", "tree_size", "root_hash", "timestamp", "key_id", "signature"})


@dataclass(frozen=True, slots=True)
class SignedTreeHead:
    """The log's commitment to its first ``tree_size`` leaves."""

    tree_size: int
    root_hash: bytes
    timestamp: str
    signature: bytes
    key_id: str

    def message(self) -> bytes:
        """The exact bytes that ``signature`` signs."""
        return head_message(self.key_id, self.tree_size, self.root_hash, self.timestamp)

    def verify(self, public_key: Ed25519PublicKey) -> None:
        """Raise ``AuditHeadError`` unless ``public_key`` made ``signature`` over this head."""
        expected = key_id(public_key)
        if self.key_id != expected:
            raise AuditHeadError(f"head of size {self.tree_size} names key {self.key_id}, not {expected}")
        try:
            public_key.verify(self.signature, self.message())
        except InvalidSignature:
            raise AuditHeadError(f"head of size {self.tree_size} has an invalid signature") from None

    @property
    def origin(self) -> str:
        return origin_of(self.key_id)

    def to_note(self, public_key: Ed25519PublicKey) -> Note:
        """This head as a signed checkpoint note (the log's signature line only)."""
        return Note(self.message().decode("ascii"), (note_signature(self.origin, public_key, self.signature),))

    @classmethod
    def from_note(cls, note: Note, vkey: VerifierKey) -> SignedTreeHead:
        """The head a checkpoint note carries; ``AuditHeadError`` unless ``vkey`` signed it."""
        if vkey.kind != ED25519:
            raise AuditHeadError(f"{vkey.name} is not a log key")
        verify_note_signature(note, vkey)
        lines = note.text.split("\n")
        if len(lines) != 5 or lines[4] != "" or not lines[3].startswith("time "):
            raise AuditHeadError("the checkpoint does not have the origin, size, root and time lines")
        origin, size_text, root_b64, time_line = lines[:4]
        if origin != vkey.name or origin != origin_of(key_id(vkey.key)):
            raise AuditHeadError(f"the checkpoint's origin {origin!r} is not this log's")
        if not size_text.isdigit() or str(int(size_text)) != size_text:
            raise AuditHeadError("the checkpoint's tree size is not a canonical decimal")
        try:
            root = base64.b64decode(root_b64, validate=True)
        except (ValueError, binascii.Error):
            raise AuditHeadError("the checkpoint's root hash is not base64") from None
        sig = note.by(vkey)[0].data  # verify_note_signature checked there is one, and all verify
        head = make_head(int(size_text), root, time_line[5:], sig, key_id(vkey.key))
        if head.message().decode("ascii") != note.text:
            raise AuditHeadError("the checkpoint is not in canonical form")
        return head

    def as_json(self) -> dict[str, Any]:
        return {
            "format": HEAD_FORMAT,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "timestamp": self.timestamp,
            "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode("ascii"),
        }

    def to_json(self) -> str:
        """Canonical JSON text of this head."""
        return canonical_json(self.as_json()).decode("utf-8")

    @classmethod
    def from_json(cls, text: str | bytes) -> SignedTreeHead:
        """Parse ``to_json`` output; the signature is *not* checked here (use ``verify``)."""
        try:
            obj = json.loads(text)
        except (ValueError, UnicodeDecodeError):
            raise AuditHeadError("tree head is not JSON") from None
        if not isinstance(obj, dict) or set(obj) != _KEYS or obj["format"] != HEAD_FORMAT:
            raise AuditHeadError(f"tree head JSON is not in the {HEAD_FORMAT} format")
        size, root_hex, sig_b64 = obj["tree_size"], obj["root_hash"], obj["signature"]
        if not isinstance(size, int) or isinstance(size, bool):
            raise AuditHeadError("tree head tree_size must be an integer")
        if not isinstance(root_hex, str) or not isinstance(sig_b64, str):
            raise AuditHeadError("tree head root_hash and signature must be strings")
        try:
            root_hash = bytes.fromhex(root_hex)
            signature = base64.b64decode(sig_b64, validate=True)
        except (ValueError, binascii.Error):
            raise AuditHeadError("tree head root_hash or signature is badly encoded") from None
        if root_hash.hex() != root_hex or base64.b64encode(signature).decode("ascii") != sig_b64:
            raise AuditHeadError("tree head root_hash or signature is not canonically encoded")
        return make_head(size, root_hash, obj["timestamp"], signature, obj["key_id"])


def make_head(tree_size: int, root_hash: bytes, timestamp: str, signature: bytes, key_id_: str) -> SignedTreeHead:
    """Build a head from stored or parsed fields, checking their shapes (not the signature)."""
    if not isinstance(tree_size, int) or isinstance(tree_size, bool) or not 0 <= tree_size < 2**63:
        raise AuditHeadError("tree head tree_size must be an integer in [0, 2**63)")
    if not isinstance(root_hash, bytes) or len(root_hash) != HASH_SIZE:
        raise AuditHeadError(f"tree head root_hash must be {HASH_SIZE} bytes")
    if not isinstance(signature, bytes) or len(signature) != _SIGNATURE_SIZE:
        raise AuditHeadError(f"tree head signature must be {_SIGNATURE_SIZE} bytes")
    if not isinstance(key_id_, str) or len(key_id_) != 32 or key_id_.strip("0123456789abcdef"):
        raise AuditHeadError("tree head key_id must be 32 lowercase hex characters")
    try:
        parse_time(timestamp)
    except AuditRecordError:
        raise AuditHeadError("tree head timestamp must look like 2024-01-31T12:00:00.000000Z") from None
    return SignedTreeHead(tree_size, root_hash, timestamp, signature, key_id_)


def origin_of(key_id_: str) -> str:
    """The checkpoint origin (and note key name) of the log signed by the key ``key_id_``."""
    return ORIGIN_PREFIX + key_id_


def log_verifier_key(public_key: Ed25519PublicKey) -> VerifierKey:
    """The verifier key witnesses and verifiers are given for this log."""
    return VerifierKey(origin_of(key_id(public_key)), ED25519, public_key)


def head_message(key_id_: str, tree_size: int, root_hash: bytes, timestamp: str) -> bytes:
    """The signed text of a head: a checkpoint note text (see the module docstring)."""
    root = base64.b64encode(root_hash).decode("ascii")
    return f"{origin_of(key_id_)}\n{tree_size}\n{root}\ntime {timestamp}\n".encode("ascii")


def sign_head(
    signer: HeadSigner | Ed25519PrivateKey, tree_size: int, root_hash: bytes, when: datetime | None = None
) -> SignedTreeHead:
    """Sign a head for a tree of ``tree_size`` leaves with root ``root_hash``, stamped ``when`` (now)."""
    signer = as_signer(signer)
    kid = key_id(signer.public_key())
    timestamp = format_time(when)
    signature = signer.sign(head_message(kid, tree_size, root_hash, timestamp))
    return make_head(tree_size, root_hash, timestamp, signature, kid)
