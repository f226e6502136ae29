"""The audit log's SQLite schema and connection settings (curated zone / governance).

Tables (one file; WAL journal; ``synchronous=FULL`` so a returned COMMIT survives power loss)::

    meta   (key TEXT PRIMARY KEY, value TEXT)            schema / hash identifiers
    leaves (idx INTEGER PRIMARY KEY,                     0-based leaf index, contiguous
            leaf BLOB,                                   canonical record bytes: the leaf input
            leaf_hash BLOB,                              SHA-256(0x00 || leaf)
            time, principal, action, resource,           copies of record fields, for indexed
            purpose, decision, subject)                  queries only; verification ignores them
    nodes  (level INTEGER, idx INTEGER, hash BLOB,       every complete perfect subtree of
            PRIMARY KEY (level, idx)) WITHOUT ROWID      level >= 1, written when it completes
    heads  (seq INTEGER PRIMARY KEY, tree_size,          published signed tree heads, in
            root_hash, timestamp, key_id, signature)     publication order

Triggers refuse UPDATE and DELETE on all three data tables, so no code path in jobshadow can
rewrite history by accident; someone with the file can drop them, which is what ``verify_log`` and
signed heads are for. ``trusted_schema=OFF`` keeps a hostile file's schema from calling
application-defined functions when a verifier opens it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final
from urllib.parse import quote

from jobshadow.govern.audit.errors import AuditCorruptError
from jobshadow.govern.audit.merkle import HASH_SIZE, Node

SCHEMA_ID: Final = "jobshadow-audit/1"
HASH_ID: Final = "rfc9162-sha256"

DDL: Final = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS leaves (
    idx        INTEGER PRIMARY KEY CHECK (idx >= 0),
    leaf       BLOB NOT NULL,
    leaf_hash  BLOB NOT NULL CHECK (length(leaf_hash) = 32),
    time       TEXT NOT NULL,
    principal  TEXT NOT NULL,
    action     TEXT NOT NULL,
    resource   TEXT NOT NULL,
    purpose    TEXT NOT NULL,
    decision   TEXT NOT NULL CHECK (decision IN ('allow', 'deny')),
    subject    TEXT
);
CREATE INDEX IF NOT EXISTS leaves_resource ON leaves (resource);
CREATE INDEX IF NOT EXISTS leaves_subject ON leaves (subject);
CREATE INDEX IF NOT EXISTS leaves_time ON leaves (time);
CREATE INDEX IF NOT EXISTS leaves_principal ON leaves (principal);
CREATE TABLE IF NOT EXISTS nodes (
    level INTEGER NOT NULL CHECK (level >= 1),
    idx   INTEGER NOT NULL CHECK (idx >= 0),
    hash  BLOB NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS heads (
    seq        INTEGER PRIMARY KEY,
    tree_size  INTEGER NOT NULL,
    root_hash  BLOB NOT NULL,
    timestamp  TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    signature  BLOB NOT NULL
);
CREATE TRIGGER IF NOT EXISTS leaves_no_update BEFORE UPDATE ON leaves
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS leaves_no_delete BEFORE DELETE ON leaves
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS nodes_no_update BEFORE UPDATE ON nodes
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS nodes_no_delete BEFORE DELETE ON nodes
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS heads_no_update BEFORE UPDATE ON heads
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS heads_no_delete BEFORE DELETE ON heads
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""

LEAF_COLUMNS: Final = "idx, leaf, leaf_hash, time, principal, action, resource, purpose, decision, subject"


def connect(path: Path, *, readonly: bool, timeout: float) -> sqlite3.Connection:
    """Open ``path`` with the audit log's settings; ``sqlite3.Error`` propagates to the caller.

    Autocommit mode (``isolation_level=None``): the store issues BEGIN IMMEDIATE / COMMIT itself so
    a transaction spans exactly one append or batch. ``check_same_thread=False`` because the store
    serialises every use of the connection behind its own lock.
    """
    if readonly:
        uri = f"file:{quote(str(path.absolute()))}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA trusted_schema = OFF")
        if not readonly:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"cannot switch the journal to WAL (got {mode})")
            conn.execute("PRAGMA synchronous = FULL")
    except BaseException:
        conn.close()
        raise
    return conn


def has_schema(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
    return bool(row[0])


def create_schema(conn: sqlite3.Connection) -> None:
    """Create tables and identifiers; the caller holds a write transaction."""
    for statement in DDL.split(";\n"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?), ('hash', ?)", (SCHEMA_ID, HASH_ID))


def schema_problem(conn: sqlite3.Connection) -> str | None:
    """Why this database is not an audit log this code can read, or None if it is."""
    if not has_schema(conn):
        return "the file is not a jobshadow audit log (no meta table)"
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    if meta.get("schema") != SCHEMA_ID or meta.get("hash") != HASH_ID:
        return f"unknown audit log schema {meta.get('schema')!r} / hash {meta.get('hash')!r}"
    return None


def tree_size(conn: sqlite3.Connection) -> int:
    """Number of leaves, taken as the highest index + 1 (gaps are for ``verify_log`` to find)."""
    return int(conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM leaves").fetchone()[0])


class SqlNodes:
    """``merkle.NodeSource`` over one connection: level 0 from ``leaves``, the rest from ``nodes``.

    Not locked: the owner of the connection serialises calls.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def get_nodes(self, nodes: Sequence[Node]) -> Mapping[Node, bytes]:
        out: dict[Node, bytes] = {}
        for level, idx in nodes:
            if level == 0:
                row = self._conn.execute("SELECT leaf_hash FROM leaves WHERE idx = ?", (idx,)).fetchone()
            else:
                row = self._conn.execute("SELECT hash FROM nodes WHERE level = ? AND idx = ?", (level, idx)).fetchone()
            if row is None or not isinstance(row[0], bytes) or len(row[0]) != HASH_SIZE:
                raise AuditCorruptError(
                    f"stored hash of subtree (level {level}, index {idx}) is missing or malformed; run verify_log"
                )
            out[(level, idx)] = row[0]
        return out
