"""The audit log's exceptions, re-exported from ``jobshadow.errors`` where the whole tree lives.

    AuditError                 base of everything the audit log raises on purpose
    ├── AuditRecordError       a record field is invalid (type, length, enum, control chars)
    ├── AuditStoreError        the log file cannot be opened or read, or its schema is unknown
    │   ├── AuditWriteError    an append or head publication did not become durable: DENY access
    │   └── AuditCorruptError  stored data needed for an answer is missing or inconsistent
    ├── AuditProofError        a proof is malformed, out of range, or does not verify
    ├── AuditHeadError         a signed tree head is malformed, forged, or from another key
    └── AuditKeyError          the signing key cannot be loaded or created, or is exposed
"""

from __future__ import annotations

from jobshadow.errors import (
    AuditCorruptError,
    AuditError,
    AuditHeadError,
    AuditKeyError,
    AuditProofError,
    AuditRecordError,
    AuditStoreError,
    AuditWriteError,
)

__all__ = ["AuditCorruptError", "AuditError", "AuditHeadError", "AuditKeyError", "AuditProofError",
           "AuditRecordError", "AuditStoreError", "AuditWriteError"]
