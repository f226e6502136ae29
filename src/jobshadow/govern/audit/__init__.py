"""Tamper-evident audit log of access decisions to curated data (curated zone / governance).

Every allow and deny becomes an ``AuditRecord`` appended as a leaf of an RFC 9162 Merkle tree in
one SQLite file (``AuditLog``). Signed tree heads (Ed25519) commit the log to a size and root;
``verify_log`` recomputes everything from the leaf bytes and reports any edit, deletion, reordering,
truncation or insertion, and any forged or altered head. Third parties holding a head check single
records with ``verify_inclusion`` and log growth with ``verify_consistency``. Low-level hashing and
proof algorithms are in ``jobshadow.govern.audit.merkle``.

Against the log's own operator: heads are C2SP checkpoints (``heads``, ``note``) signed by a
``HeadSigner`` (``signer``: a key file or a KMS/HSM), published every few seconds by a
``HeadPublisher`` (``publisher``) to independent witnesses (``witness``, ``witness_http``,
``witness_client``) that co-sign only what extends what they signed before; ``witnessed`` checks
a log against them (quorum, rewrite, truncation, the first record that differs).
"""

from __future__ import annotations

from jobshadow.govern.audit.errors import (
    AuditCorruptError,
    AuditError,
    AuditHeadError,
    AuditKeyError,
    AuditProofError,
    AuditRecordError,
    AuditStoreError,
    AuditWriteError,
)
from jobshadow.govern.audit.heads import SignedTreeHead, sign_head
from jobshadow.govern.audit.keys import (
    key_id,
    load_or_create_signing_key,
    load_public_key,
    load_signing_key,
    public_key_pem,
    read_public_key,
)
from jobshadow.govern.audit.proofs import (
    ConsistencyProof,
    InclusionProof,
    verify_consistency,
    verify_inclusion,
)
from jobshadow.govern.audit.record import AuditRecord, Decision, format_time, parse_time
from jobshadow.govern.audit.store import AuditLog
from jobshadow.govern.audit.verify import Problem, VerifyReport, verify_log

__all__ = [
    "AuditCorruptError",
    "AuditError",
    "AuditHeadError",
    "AuditKeyError",
    "AuditLog",
    "AuditProofError",
    "AuditRecord",
    "AuditRecordError",
    "AuditStoreError",
    "AuditWriteError",
    "ConsistencyProof",
    "Decision",
    "InclusionProof",
    "Problem",
    "SignedTreeHead",
    "VerifyReport",
    "format_time",
    "key_id",
    "load_or_create_signing_key",
    "load_public_key",
    "load_signing_key",
    "parse_time",
    "public_key_pem",
    "read_public_key",
    "sign_head",
    "verify_consistency",
    "verify_inclusion",
    "verify_log",
]
