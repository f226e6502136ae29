"""The audit log's exceptions (curated zone / governance).

Every class derives from ``jobshadow.errors.JobshadowError`` so boundary handlers catch them with
the rest of the tree. Messages name indices, sizes and key ids, never record contents.

    JobshadowError
    └── AuditError                 base of everything the audit log raises on purpose
        ├── AuditRecordError       a record field is invalid (type, length, enum, control chars)
        ├── AuditStoreError        the log file cannot be opened or read, or its schema is unknown
        │   ├── AuditWriteError    an append or head publication did not become durable: DENY access
        │   └── AuditCorruptError  stored data needed for an answer is missing or inconsistent
        ├── AuditProofError        a proof is malformed, out of range, or does not verify
        ├── AuditHeadError         a signed tree head is malformed, forged, or from another key
        └── AuditKeyError          the signing key cannot be loaded or created, or is exposed
"""

from __future__ import annotations

from jobshadow.errors import JobshadowError


class AuditError(JobshadowError):
    """Base of every error the audit log raises on purpose."""


class AuditRecordError(AuditError):
    """An audit record field has the wrong type, is too long, or is not an allowed value."""


class AuditStoreError(AuditError):
    """The audit log file cannot be opened or read, or it has an unknown schema."""


class AuditWriteError(AuditStoreError):
    """An append or head publication did not become durable; nothing of it was stored.

    Callers that gate access on the audit trail must deny the access when they see this.
    """


class AuditCorruptError(AuditStoreError):
    """Stored data that an answer needs is missing or inconsistent; run ``verify_log``."""


class AuditProofError(AuditError):
    """A proof is malformed or out of range, or it does not verify against the given roots."""


class AuditHeadError(AuditError):
    """A signed tree head is malformed, its signature is invalid, or another key signed it."""


class AuditKeyError(AuditError):
    """The head-signing key cannot be loaded or created, or its file is readable by others."""
