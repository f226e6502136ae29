"""Portable inclusion and consistency proofs, checked against signed heads (curated zone / governance).

This is the third party's side: someone holding a signed tree head and the log's public key asks
the log for a proof and checks it here without any access to the log's storage. Proofs travel as
canonical JSON with hashes in hex and the leaf (the record's canonical bytes) in base64.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from jobshadow.govern.audit import merkle
from jobshadow.govern.audit.errors import AuditProofError, AuditRecordError
from jobshadow.govern.audit.heads import SignedTreeHead
from jobshadow.govern.audit.record import AuditRecord, canonical_json

INCLUSION_FORMAT: Final = "jobshadow-audit-inclusion/1"
CONSISTENCY_FORMAT: Final = "jobshadow-audit-consistency/1"
_MAX_PATH = 64  # a tree of 2**63 leaves is 63 deep; anything longer is garbage


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """Leaf ``index`` (its canonical bytes ``leaf``) is in the tree of ``tree_size`` leaves."""

    index: int
    tree_size: int
    leaf: bytes
    path: tuple[bytes, ...]

    def record(self) -> AuditRecord:
        """The record the proof is about (not yet verified: use ``verify_inclusion``)."""
        return AuditRecord.from_canonical(self.leaf)

    def to_json(self) -> str:
        return canonical_json(
            {
                "format": INCLUSION_FORMAT,
                "index": self.index,
                "tree_size": self.tree_size,
                "leaf": base64.b64encode(self.leaf).decode("ascii"),
                "path": [h.hex() for h in self.path],
            }
        ).decode("utf-8")

    @classmethod
    def from_json(cls, text: str | bytes) -> InclusionProof:
        obj = _load(text, INCLUSION_FORMAT, {"index", "tree_size", "leaf", "path"})
        try:
            leaf = base64.b64decode(_str(obj["leaf"]), validate=True)
        except binascii.Error:
            raise AuditProofError("inclusion proof leaf is not base64") from None
        return cls(_int(obj["index"]), _int(obj["tree_size"]), leaf, _hashes(obj["path"]))


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """The tree of ``old_size`` leaves is a prefix of the tree of ``new_size`` leaves."""

    old_size: int
    new_size: int
    path: tuple[bytes, ...]

    def to_json(self) -> str:
        return canonical_json(
            {
                "format": CONSISTENCY_FORMAT,
                "old_size": self.old_size,
                "new_size": self.new_size,
                "path": [h.hex() for h in self.path],
            }
        ).decode("utf-8")

    @classmethod
    def from_json(cls, text: str | bytes) -> ConsistencyProof:
        obj = _load(text, CONSISTENCY_FORMAT, {"old_size", "new_size", "path"})
        return cls(_int(obj["old_size"]), _int(obj["new_size"]), _hashes(obj["path"]))


def verify_inclusion(proof: InclusionProof, head: SignedTreeHead, public_key: Ed25519PublicKey) -> AuditRecord:
    """Check ``head``'s signature and that ``proof`` puts its record in ``head``; return the record.

    Raises ``AuditHeadError`` for a bad head, ``AuditProofError`` for a bad proof or record bytes.
    """
    head.verify(public_key)
    if proof.tree_size != head.tree_size:
        raise AuditProofError(f"proof is for tree size {proof.tree_size}, the head for {head.tree_size}")
    leaf = merkle.leaf_hash(proof.leaf)
    merkle.verify_inclusion(leaf, proof.index, proof.tree_size, proof.path, head.root_hash)
    try:
        return AuditRecord.from_canonical(proof.leaf)
    except AuditRecordError as exc:
        raise AuditProofError(f"leaf {proof.index} is included but is not a valid record: {exc}") from exc


def verify_consistency(
    proof: ConsistencyProof, old_head: SignedTreeHead, new_head: SignedTreeHead, public_key: Ed25519PublicKey
) -> None:
    """Check both heads' signatures and that ``old_head``'s tree is a prefix of ``new_head``'s."""
    old_head.verify(public_key)
    new_head.verify(public_key)
    if (proof.old_size, proof.new_size) != (old_head.tree_size, new_head.tree_size):
        raise AuditProofError(
            f"proof is for sizes {proof.old_size} -> {proof.new_size}, "
            f"the heads are {old_head.tree_size} -> {new_head.tree_size}"
        )
    merkle.verify_consistency(proof.old_size, proof.new_size, old_head.root_hash, new_head.root_hash, proof.path)


def _load(text: str | bytes, fmt: str, keys: set[str]) -> dict[str, Any]:
    try:
        obj = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise AuditProofError("proof is not JSON") from None
    if not isinstance(obj, dict) or set(obj) != keys | {"format"} or obj["format"] != fmt:
        raise AuditProofError(f"proof JSON is not in the {fmt} format")
    return obj


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
        raise AuditProofError("proof sizes and indices must be integers in [0, 2**63)")
    return value


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise AuditProofError("proof field must be a string")
    return value


def _hashes(value: object) -> tuple[bytes, ...]:
    if not isinstance(value, list) or len(value) > _MAX_PATH:
        raise AuditProofError(f"proof path must be a list of at most {_MAX_PATH} hashes")
    out = []
    for item in value:
        text = _str(item)
        try:
            h = bytes.fromhex(text)
        except ValueError:
            raise AuditProofError("proof path element is not hex") from None
        if len(h) != merkle.HASH_SIZE or h.hex() != text:
            raise AuditProofError("proof path element is not a lowercase hex SHA-256 hash")
        out.append(h)
    return tuple(out)
