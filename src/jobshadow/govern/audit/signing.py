"""Signed tree heads as the log stores them: signing, publishing, importing (governance).

``HeadSigning`` is the part of ``AuditLog`` that deals with heads; it is a mixin because it works
on the log's one connection and lock (``_read`` / ``_write``), which ``AuditLog`` owns. Signing
happens outside the write lock, so a slow signer (a KMS) never holds up appends; heads are stored
in order of size and time even when several processes publish (the loser of a race re-signs).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from jobshadow.govern.audit import merkle, schema
from jobshadow.govern.audit.errors import AuditCorruptError, AuditError, AuditHeadError, AuditKeyError, AuditWriteError
from jobshadow.govern.audit.heads import SignedTreeHead, make_head, sign_head
from jobshadow.govern.audit.record import format_time, parse_time
from jobshadow.govern.audit.signer import HeadSigner

T = TypeVar("T")
SizeOrHead = int | SignedTreeHead


class HeadSigning:
    """Heads of an ``AuditLog`` (see the module docstring)."""

    if TYPE_CHECKING:  # provided by AuditLog
        _path: Path
        _signer: HeadSigner | None

        @property
        def public_key(self) -> Ed25519PublicKey | None: ...

        def _read(self, work: Callable[[sqlite3.Connection], T]) -> T: ...

        def _write(self, work: Callable[[sqlite3.Connection], T]) -> T: ...

        def _size_arg(self, conn: sqlite3.Connection, size: SizeOrHead | None) -> int: ...

    def _signing_key(self) -> HeadSigner:
        if self._signer is None:
            raise AuditKeyError(f"audit log {self._path} was opened without a signing key")
        return self._signer

    def sign_head(self, size: SizeOrHead | None = None) -> SignedTreeHead:
        """Sign the tree of ``size`` leaves (default: now) without storing the head."""
        signer = self._signing_key()
        n, root = self._read(lambda conn: (n := self._size_arg(conn, size), merkle.root(schema.SqlNodes(conn), n)))
        return sign_head(signer, n, root)

    def publish_head(self) -> SignedTreeHead:
        """Sign the current tree and store the head. Raises ``AuditWriteError``.

        The signature is made outside the write lock (a KMS may take a while). If another writer
        stored a larger head meanwhile, that one is returned instead: heads stay in order.
        """
        signer = self._signing_key()
        for _ in range(3):
            size, root, last = self._read(lambda conn: (n := schema.tree_size(conn), merkle.root(
                schema.SqlNodes(conn), n), _latest_head(conn)))
            now = datetime.now(UTC)
            # Keep head times monotonic even if the wall clock steps back (verify_log checks it).
            if last is not None and format_time(now) < last.timestamp:
                now = parse_time(last.timestamp)
            try:
                head = sign_head(signer, size, root, now)
            except AuditKeyError as exc:
                raise AuditWriteError(f"no head could be signed: {exc}") from exc

            def work(conn: sqlite3.Connection, head: SignedTreeHead = head) -> SignedTreeHead | None:
                last = _latest_head(conn)
                if last is not None and last.tree_size >= head.tree_size and last.timestamp >= head.timestamp:
                    return last
                if last is not None and (last.tree_size > head.tree_size or last.timestamp > head.timestamp):
                    return None  # raced with another writer: sign afresh
                _insert_head(conn, head)
                return head

            stored = self._write(work)
            if stored is not None:
                return stored
        raise AuditWriteError(f"audit log {self._path}: heads kept racing; no head was stored")

    def import_head(self, head: SignedTreeHead, public_key: Ed25519PublicKey | None = None) -> None:
        """Store a head signed elsewhere (a restore): it must verify and match this tree."""
        key = public_key or self.public_key
        if key is None:
            raise AuditKeyError("import_head needs a public key: this log has no signing key")
        head.verify(key)

        def work(conn: sqlite3.Connection) -> None:
            if head.tree_size > schema.tree_size(conn):
                raise AuditHeadError(f"head of size {head.tree_size} is beyond this log")
            if merkle.root(schema.SqlNodes(conn), head.tree_size) != head.root_hash:
                raise AuditHeadError(f"head of size {head.tree_size} does not match this log")
            last = _latest_head(conn)
            if last is not None and (head.tree_size, head.timestamp) < (last.tree_size, last.timestamp):
                raise AuditHeadError("heads must be imported in order of size and time")
            _insert_head(conn, head)

        try:
            self._write(work)
        except AuditWriteError as exc:
            if isinstance(exc.__cause__, AuditHeadError):
                raise exc.__cause__ from None
            raise

    def heads(self) -> list[SignedTreeHead]:
        """Published heads in publication order."""
        rows = self._read(
            lambda conn: conn.execute(
                "SELECT tree_size, root_hash, timestamp, signature, key_id FROM heads ORDER BY seq"
            ).fetchall()
        )
        return [_head_from_row(row) for row in rows]

    def latest_head(self) -> SignedTreeHead | None:
        """The most recently published head, if any."""
        return self._read(_latest_head)


def _head_from_row(row: tuple[object, ...]) -> SignedTreeHead:
    size, root_hash, timestamp, signature, kid = row
    try:
        return make_head(size, root_hash, timestamp, signature, kid)  # type: ignore[arg-type]
    except AuditError as exc:
        raise AuditCorruptError(f"a stored tree head is malformed ({exc}); run verify_log") from exc


def _latest_head(conn: sqlite3.Connection) -> SignedTreeHead | None:
    row = conn.execute(
        "SELECT tree_size, root_hash, timestamp, signature, key_id FROM heads ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    return None if row is None else _head_from_row(row)


def _insert_head(conn: sqlite3.Connection, head: SignedTreeHead) -> None:
    conn.execute(
        "INSERT INTO heads (tree_size, root_hash, timestamp, key_id, signature) VALUES (?, ?, ?, ?, ?)",
        (head.tree_size, head.root_hash, head.timestamp, head.key_id, head.signature),
    )
