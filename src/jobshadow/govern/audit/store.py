"""The append-only audit log store: one SQLite file, one writer (curated zone / governance).

``AuditLog`` appends records as Merkle leaves, keeps every complete perfect subtree hash so roots
and proofs cost O(log n) lookups, publishes signed tree heads, and answers indexed queries. The
schema is described in ``jobshadow.govern.audit.schema``.

Durability: each ``append`` / ``append_many`` is one ``BEGIN IMMEDIATE`` ... ``COMMIT`` in WAL mode
with ``synchronous=FULL``; the leaf index is returned only after COMMIT returned, i.e. after the
WAL was fsynced. Any failure rolls the transaction back and raises ``AuditWriteError``; callers
that gate access on the audit trail deny the access then. If COMMIT itself fails, the write *may*
still have reached the disk; the error is raised anyway (fail closed), so the log can hold a
record of an access that was in the end denied, never the reverse.

Concurrency: every method takes one lock around the one connection, so an ``AuditLog`` may be shared
by threads. Across processes, one process should write; a second writer (another ``AuditLog`` on
the same file) is safe: ``BEGIN IMMEDIATE`` makes it wait up to ``timeout`` seconds for the lock and
then fail with ``AuditWriteError``, and each transaction re-reads the tree size, so neither can
corrupt the tree. Readers in other processes (verifiers) never block the writer (WAL).

Heads (signing, publishing, importing) are ``jobshadow.govern.audit.signing``'s part.

The writer also checks before each write that ``path`` still names the file it opened: a log that
was deleted or moved aside fails closed instead of appending to an unlinked inode.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from jobshadow.govern.audit import merkle, proofs, schema
from jobshadow.govern.audit.errors import (
    AuditCorruptError,
    AuditKeyError,
    AuditProofError,
    AuditRecordError,
    AuditStoreError,
    AuditWriteError,
)
from jobshadow.govern.audit.heads import SignedTreeHead
from jobshadow.govern.audit.merkle import CompactRange
from jobshadow.govern.audit.query import build_query
from jobshadow.govern.audit.record import AuditRecord
from jobshadow.govern.audit.signer import HeadSigner, as_signer
from jobshadow.govern.audit.signing import HeadSigning, SizeOrHead

T = TypeVar("T")


class AuditLog(HeadSigning):
    """An append-only, Merkle-tree audit log in one SQLite file. Thread-safe; see the module docstring."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        signing_key: HeadSigner | Ed25519PrivateKey | None = None,
        readonly: bool = False,
        timeout: float = 5.0,
    ) -> None:
        """Open (creating if needed, unless ``readonly``) the log at ``path``.

        Raises ``AuditWriteError`` when a writable log cannot be opened (callers deny access) and
        ``AuditStoreError`` when a read-only one cannot.
        """
        self._path = Path(path)
        self._signer = as_signer(signing_key) if signing_key is not None else None
        self._readonly = readonly
        self._lock = threading.RLock()
        self._frontier: CompactRange | None = None
        self._conn: sqlite3.Connection | None = None
        fail = AuditStoreError if readonly else AuditWriteError
        try:
            conn = schema.connect(self._path, readonly=readonly, timeout=timeout)
        except sqlite3.Error as exc:
            raise fail(f"cannot open audit log {self._path}: {exc}") from exc
        try:
            if not readonly:
                self._init_schema(conn)
            problem = schema.schema_problem(conn)
            if problem:
                raise fail(f"{self._path}: {problem}")
            st = os.stat(self._path)
        except (sqlite3.Error, OSError, AuditStoreError) as exc:
            conn.close()
            if isinstance(exc, fail):
                raise
            raise fail(f"cannot open audit log {self._path}: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        self._identity = (st.st_dev, st.st_ino)
        self._conn = conn

    @staticmethod
    def _init_schema(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if not schema.has_schema(conn):
                # Never add audit tables to some other application's database.
                if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                    raise AuditStoreError("the file is the SQLite database of something else")
                schema.create_schema(conn)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self._path

    @property
    def public_key(self) -> Ed25519PublicKey | None:
        """The public half of the signing key, if this log was opened with one."""
        return self._signer.public_key() if self._signer is not None else None

    def close(self) -> None:
        """Close the connection; idempotent. Later calls raise ``AuditStoreError``."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AuditLog(path={str(self._path)!r}, readonly={self._readonly})"

    # -- plumbing -------------------------------------------------------------------------------
    def _connection(self, *, write: bool) -> sqlite3.Connection:
        fail = AuditWriteError if write else AuditStoreError
        if self._conn is None:
            raise fail(f"audit log {self._path} is closed")
        if write and self._readonly:
            raise AuditWriteError(f"audit log {self._path} was opened read-only")
        return self._conn

    def _check_file(self) -> None:
        try:
            st = os.stat(self._path)
        except OSError as exc:
            raise AuditWriteError(f"audit log {self._path} is gone: {exc.strerror}") from exc
        if (st.st_dev, st.st_ino) != self._identity:
            raise AuditWriteError(f"audit log {self._path} was replaced by another file")

    def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            conn = self._connection(write=False)
            try:
                return work(conn)
            except sqlite3.Error as exc:
                raise AuditStoreError(f"cannot read audit log {self._path}: {exc}") from exc

    def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in one immediate transaction; durable on return, rolled back on failure."""
        with self._lock:
            conn = self._connection(write=True)
            self._check_file()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise AuditWriteError(f"cannot start a write on audit log {self._path}: {exc}") from exc
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                self._frontier = None  # whatever the cache holds may describe rolled-back leaves
                if isinstance(exc, AuditWriteError | KeyboardInterrupt | SystemExit) or not isinstance(exc, Exception):
                    raise
                raise AuditWriteError(
                    f"audit write to {self._path} failed and was rolled back: {type(exc).__name__}: {exc}"
                ) from exc
            return result

    def _frontier_at(self, conn: sqlite3.Connection, size: int) -> CompactRange:
        cached = self._frontier
        if cached is not None and cached.size == size:
            return cached.copy()
        # Another process appended (or this is the first write): rebuild from stored nodes.
        wanted = CompactRange.nodes_for(size)
        got = schema.SqlNodes(conn).get_nodes(wanted)
        return CompactRange(size, [got[n] for n in wanted])

    def _size_arg(self, conn: sqlite3.Connection, size: SizeOrHead | None) -> int:
        current = schema.tree_size(conn)
        if size is None:
            return current
        n = size.tree_size if isinstance(size, SignedTreeHead) else size
        if not 0 <= n <= current:
            raise AuditProofError(f"no tree of size {n}: the log holds {current} leaves")
        return n

    # -- appending ------------------------------------------------------------------------------
    def append(self, record: AuditRecord) -> int:
        """Append one record; return its leaf index once durable. Raises ``AuditWriteError``."""
        return self.append_many([record])[0]

    def append_many(self, records: Iterable[AuditRecord]) -> range:
        """Append records in one transaction: all become durable or none. Returns their indices."""
        try:
            batch = list(records)
            for record in batch:
                if not isinstance(record, AuditRecord):
                    raise AuditRecordError(f"expected an AuditRecord, got {type(record).__name__}")
            # Encode and hash outside the lock: that is most of the CPU work of an append.
            prepared = [(r, r.canonical()) for r in batch]
            prepared_hashes = [merkle.leaf_hash(leaf) for _, leaf in prepared]
        except Exception as exc:
            raise AuditWriteError(f"audit records could not be prepared: {exc}") from exc

        def work(conn: sqlite3.Connection) -> tuple[range, CompactRange]:
            size = schema.tree_size(conn)
            frontier = self._frontier_at(conn, size)
            leaf_rows = []
            node_rows = []
            for offset, ((r, leaf), h) in enumerate(zip(prepared, prepared_hashes, strict=True)):
                row = (size + offset, leaf, h, r.time, r.principal, r.action, r.resource, r.purpose)
                leaf_rows.append((*row, r.decision, r.subject))
                node_rows.extend(frontier.append(h)[1:])  # level 0 lives in leaves.leaf_hash
            conn.executemany(
                "INSERT INTO leaves (idx, leaf, leaf_hash, time, principal, action, resource, purpose,"
                " decision, subject) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                leaf_rows,
            )
            conn.executemany("INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)", node_rows)
            return range(size, size + len(batch)), frontier

        with self._lock:
            if not batch:
                return self._read(lambda conn: range(schema.tree_size(conn), schema.tree_size(conn)))
            indices, frontier = self._write(work)
            self._frontier = frontier
            return indices

    # -- reading the tree -----------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Number of leaves."""
        return self._read(schema.tree_size)

    def root(self, size: SizeOrHead | None = None) -> bytes:
        """``MTH`` of the first ``size`` leaves (default: all)."""
        return self._read(lambda conn: merkle.root(schema.SqlNodes(conn), self._size_arg(conn, size)))

    def leaf(self, index: int) -> bytes:
        """The canonical bytes of leaf ``index``."""

        def work(conn: sqlite3.Connection) -> bytes:
            row = conn.execute("SELECT leaf FROM leaves WHERE idx = ?", (index,)).fetchone()
            if row is None:
                raise AuditProofError(f"there is no leaf {index}")
            return bytes(row[0])

        return self._read(work)

    def record(self, index: int) -> AuditRecord:
        """The record at leaf ``index``."""
        return _decode(index, self.leaf(index))

    def prove_inclusion(self, index: int, tree_size: SizeOrHead | None = None) -> proofs.InclusionProof:
        """Proof that leaf ``index`` is in the tree of ``tree_size`` leaves (a head's, or now)."""

        def work(conn: sqlite3.Connection) -> proofs.InclusionProof:
            size = self._size_arg(conn, tree_size)
            path = merkle.inclusion_proof(schema.SqlNodes(conn), index, size)
            row = conn.execute("SELECT leaf FROM leaves WHERE idx = ?", (index,)).fetchone()
            if row is None:
                raise AuditCorruptError(f"leaf {index} is missing; run verify_log")
            return proofs.InclusionProof(index, size, bytes(row[0]), tuple(path))

        return self._read(work)

    def prove_consistency(self, old_size: SizeOrHead, new_size: SizeOrHead | None = None) -> proofs.ConsistencyProof:
        """Proof that the tree of ``old_size`` leaves is a prefix of the one of ``new_size`` (now)."""

        def work(conn: sqlite3.Connection) -> proofs.ConsistencyProof:
            old, new = self._size_arg(conn, old_size), self._size_arg(conn, new_size)
            path = merkle.consistency_proof(schema.SqlNodes(conn), old, new)
            return proofs.ConsistencyProof(old, new, tuple(path))

        return self._read(work)

    def verify_inclusion(
        self, record_index: int, head: SignedTreeHead, public_key: Ed25519PublicKey | None = None
    ) -> AuditRecord:
        """Prove record ``record_index`` against ``head`` and check the proof; return the record.

        ``public_key`` defaults to this log's own key. Raises ``AuditHeadError`` / ``AuditProofError``.
        """
        key = public_key or self.public_key
        if key is None:
            raise AuditKeyError("verify_inclusion needs a public key: this log has no signing key")
        return proofs.verify_inclusion(self.prove_inclusion(record_index, head), head, key)

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """The stored leaf hashes of leaves ``[start, end)`` (what witnesses mirror)."""

        def work(conn: sqlite3.Connection) -> list[bytes]:
            self._size_arg(conn, end)
            rows = conn.execute("SELECT idx, leaf_hash FROM leaves WHERE idx >= ? AND idx < ? ORDER BY idx",
                                (start, end)).fetchall()
            if [int(r[0]) for r in rows] != list(range(start, end)):
                raise AuditCorruptError(f"leaves [{start}, {end}) are not all stored; run verify_log")
            return [bytes(r[1]) for r in rows]

        return self._read(work)

    # -- queries --------------------------------------------------------------------------------
    def query(
        self,
        *,
        resource_prefix: str | None = None,
        subject: str | None = None,
        since: datetime | str | None = None,
        principal: str | None = None,
        decision: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[tuple[int, AuditRecord]]:
        """Records matching every given filter, by leaf index (oldest first unless ``newest_first``).

        Filters use indexed copies of the record fields; the records returned are decoded from the
        leaf bytes. ``since`` is inclusive. Raises ``AuditRecordError`` for malformed filters.
        """
        sql, params = build_query(
            resource_prefix=resource_prefix,
            subject=subject,
            since=since,
            principal=principal,
            decision=decision,
            limit=limit,
            newest_first=newest_first,
        )
        rows = self._read(lambda conn: conn.execute(sql, params).fetchall())
        return [(int(idx), _decode(int(idx), bytes(leaf))) for idx, leaf in rows]


def _decode(index: int, leaf: bytes) -> AuditRecord:
    try:
        return AuditRecord.from_canonical(leaf)
    except AuditRecordError as exc:
        raise AuditCorruptError(f"leaf {index} is not a valid record ({exc}); run verify_log") from exc

