"""Per-subject envelope encryption: data keys, their wrapping key, pseudonyms (curated zone).

* Every subject (pseudonymous person) has a 256-bit data key (DEK). Sensitive column values and
  media are sealed with it (AES-256-GCM), with associated data binding subject, table, column
  and segment: a ciphertext moved to another subject, column or segment does not open.
* DEKs are stored only wrapped by a key-encryption key (KEK). The default KEK is a 0600 key file;
  ``KeyEncryptionKey`` is the interface a KMS adapter implements (wrap/unwrap with context).
* Erasure destroys the wrapped DEK (SQLite ``secure_delete`` plus a WAL checkpoint so no page of
  the key database keeps a copy): every copy of the subject's data, derived datasets included,
  becomes unreadable at once; deleting rows and expiring snapshots follows.
* Pseudonyms are HMAC-SHA256(pseudonym key, person id): stable, not reversible without the key.

Only ``jobshadow.govern`` uses this module (the architecture test enforces it).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from jobshadow.errors import IntegrityFailure as IntegrityFailure  # defined in the one tree
from jobshadow.errors import KeyUnavailable as KeyUnavailable
from jobshadow.errors import StateError
from jobshadow.home import create_private

# v2 binds the context with length-prefixed fields; v1 (joined with \x1f) is still opened.
BLOCK_VERSION = b"\x02"
_READABLE = (b"\x01", b"\x02")


class KeyEncryptionKey(Protocol):
    """Wraps data keys. Implementations: a local key file (default) or a KMS."""

    key_id: str

    def wrap(self, dek: bytes, context: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes: ...


class FileKEK:
    """A 32-byte key in a 0600 file; wraps with AES-256-GCM, the context as associated data."""

    def __init__(self, path: Path) -> None:
        if not path.exists():
            create_private(path, os.urandom(32))
        if path.stat().st_mode & 0o077:
            raise StateError(f"{path} is readable by other users; fix with: chmod 600 {path}")
        raw = path.read_bytes()
        if len(raw) != 32:
            raise StateError(f"{path} is damaged (not a 32-byte key)")
        self._aead = AESGCM(raw)
        self.key_id = hashlib.sha256(b"jobshadow kek\x00" + raw).hexdigest()[:16]

    def wrap(self, dek: bytes, context: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, dek, context)

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        try:
            return self._aead.decrypt(wrapped[:12], wrapped[12:], context)
        except InvalidTag:
            raise IntegrityFailure("a wrapped data key failed authentication") from None

    def __repr__(self) -> str:
        return f"FileKEK(key_id={self.key_id!r}, key=***)"


def _aad(subject: str, table: str, column: str, segment: str, version: bytes = BLOCK_VERSION) -> bytes:
    if version == b"\x01":
        return b"jobshadow block v1\x00" + "\x1f".join((subject, table, column, segment)).encode()
    # Length prefixes: no choice of names can make two different contexts encode the same.
    parts = [p.encode() for p in (subject, table, column, segment)]
    return b"jobshadow block v2\x00" + b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def seal(dek: bytes, subject: str, table: str, column: str, segment: str, plaintext: bytes) -> bytes:
    nonce = os.urandom(12)
    return BLOCK_VERSION + nonce + AESGCM(dek).encrypt(nonce, plaintext, _aad(subject, table, column, segment))


def unseal(dek: bytes, subject: str, table: str, column: str, segment: str, blob: bytes) -> bytes:
    if not blob or blob[:1] not in _READABLE or len(blob) < 29:
        raise IntegrityFailure("not a sealed block")
    try:
        return AESGCM(dek).decrypt(blob[1:13], blob[13:], _aad(subject, table, column, segment, blob[:1]))
    except InvalidTag:
        raise IntegrityFailure(
            f"sealed {table}.{column} block failed authentication (tampered, or not this subject's)") from None


def pseudonym(key: bytes, person_id: str) -> str:
    """A person's stable pseudonymous subject id (96 bits of HMAC-SHA256)."""
    return "s_" + hmac.new(key, person_id.encode(), hashlib.sha256).hexdigest()[:24]


class SubjectKeys:
    """The key database: pseudonym → wrapped DEK. Thread-safe; one SQLite connection per call."""

    def __init__(self, path: Path, kek: KeyEncryptionKey, pseudonym_key: bytes) -> None:
        self.path = path
        self.kek = kek
        self._pkey = pseudonym_key
        self._lock = threading.Lock()
        if not path.exists():
            # Created 0600 before SQLite opens it; SQLite gives its WAL and shm files the same mode.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        with self._db() as db:
            db.execute("""CREATE TABLE IF NOT EXISTS subjects (
                subject TEXT PRIMARY KEY, person_id TEXT NOT NULL UNIQUE, wrapped_dek BLOB,
                kek_id TEXT, created_at REAL NOT NULL, destroyed_at REAL)""")

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA secure_delete=ON")  # freed pages are zeroed: a destroyed key leaves no copy
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            yield db
        finally:
            db.close()

    def pseudonym(self, person_id: str) -> str:
        return pseudonym(self._pkey, person_id)

    def ensure(self, person_id: str) -> str:
        """The subject for ``person_id``, creating its data key on first use."""
        subject = self.pseudonym(person_id)
        with self._lock, self._db() as db:
            row = db.execute("SELECT destroyed_at FROM subjects WHERE subject=?", (subject,)).fetchone()
            if row is None:
                dek = os.urandom(32)
                db.execute("INSERT INTO subjects VALUES (?,?,?,?,?,NULL)",
                           (subject, person_id, self.kek.wrap(dek, subject.encode()), self.kek.key_id, time.time()))
            elif row[0] is not None:
                raise KeyUnavailable(f"subject {subject} was erased; no new data may be stored for it")
        return subject

    def dek(self, subject: str) -> bytes:
        with self._db() as db:
            row = db.execute("SELECT wrapped_dek FROM subjects WHERE subject=?", (subject,)).fetchone()
        if row is None or row[0] is None:
            raise KeyUnavailable(f"no data key for subject {subject} (erased or unknown)")
        return self.kek.unwrap(row[0], subject.encode())

    def available(self, subjects: list[str]) -> set[str]:
        if not subjects:
            return set()
        with self._db() as db:
            marks = ",".join("?" * len(subjects))
            rows = db.execute(f"SELECT subject FROM subjects WHERE wrapped_dek IS NOT NULL AND subject IN ({marks})",  # noqa: S608
                              subjects).fetchall()
        return {r[0] for r in rows}

    def destroy(self, subject: str) -> bool:
        """Crypto-shred: remove the wrapped key so nothing sealed with it opens again."""
        with self._lock, self._db() as db:
            cur = db.execute("UPDATE subjects SET wrapped_dek=NULL, destroyed_at=? WHERE subject=? "
                             "AND wrapped_dek IS NOT NULL", (time.time(), subject))
            changed = cur.rowcount > 0
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return changed

    def person_of(self, subject: str) -> str | None:
        with self._db() as db:
            row = db.execute("SELECT person_id FROM subjects WHERE subject=?", (subject,)).fetchone()
        return None if row is None else str(row[0])

    def subjects(self) -> list[tuple[str, bool]]:
        with self._db() as db:
            return [(r[0], r[1] is not None) for r in db.execute(
                "SELECT subject, wrapped_dek FROM subjects ORDER BY subject").fetchall()]
