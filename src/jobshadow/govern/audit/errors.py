"""The audit log's exceptions (``AuditError`` and below), re-exported from ``jobshadow.errors``.

The whole tree, with a line on each class, is drawn in ``jobshadow.errors``.
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
