"""Publishing signed audit tree heads outside the audit database (curated zone).

A head kept only inside the database it vouches for proves little: whoever can rewrite the
leaves can rewrite the heads. Every published head is therefore also written as a file to
``[govern] audit_heads_dir`` (point it at write-once storage in production); ``audit verify``
checks the log against those copies, so a log cut back or rewritten, heads included, still fails.
"""

from __future__ import annotations

from pathlib import Path

from jobshadow.govern.audit import AuditError, AuditLog, SignedTreeHead
from jobshadow.home import write_private


def publish(log: AuditLog, directory: Path) -> SignedTreeHead:
    """Sign the current tree, store the head in the log and publish a copy to ``directory``."""
    head = log.publish_head()
    stamp = head.timestamp.replace(":", "").replace("-", "").replace(".", "")
    path = directory / f"{head.tree_size:012d}-{stamp}.json"
    if not path.exists():
        write_private(path, head.to_json().encode())
    return head


def published(directory: Path) -> tuple[list[SignedTreeHead], list[str]]:
    """The published heads (by size, then time) and a message for every file that is not one."""
    heads: list[SignedTreeHead] = []
    problems: list[str] = []
    if not directory.exists():
        return heads, problems
    for path in sorted(directory.glob("*.json")):
        try:
            heads.append(SignedTreeHead.from_json(path.read_bytes()))
        except (AuditError, OSError) as exc:
            problems.append(f"{path.name}: {exc}")
    heads.sort(key=lambda h: (h.tree_size, h.timestamp))
    return heads, problems
