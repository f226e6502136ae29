"""Sealed files: an append-only stream of AES-256-GCM chunks (shared by device and server).

Format ``JSSEAL1``::

    magic  b"JSSEAL1\\n"
    u32    header length, then the header: canonical JSON (version, algorithm, key id, salt, …)
    chunks u32 ciphertext length, then ciphertext || 16-byte tag

Each file gets its own key, HKDF-SHA256(master key, salt, info = header), so nonces can be a
plain counter: nonce = counter (11 bytes, big endian) || last flag (1 byte), in the manner of the
STREAM construction. The header is the associated data of every chunk. Consequences a reader
relies on:

* flipping, inserting, dropping or reordering a chunk fails authentication or the counter check;
* a file without a chunk flagged *last* was not closed (crashed writer or truncated copy) — the
  authenticated prefix is still readable on request, for recovery;
* a different master key is told apart from tampering by the key id in the header.

Writers seal whatever is buffered on ``flush()``; the recorder flushes at least twice a second so a
killed process loses at most that much.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from jobshadow.errors import SpoolCorrupt, Truncated, WrongKey

MAGIC = b"JSSEAL1\n"
VERSION = 1
TAG_SIZE = 16
MAX_HEADER = 64 * 1024
# Upper bound on one chunk; protects readers from a forged length asking for gigabytes.
MAX_CHUNK = 16 * 1024 * 1024
DEFAULT_CHUNK = 1024 * 1024
_LEN = struct.Struct(">I")


def key_id(master: bytes) -> str:
    """A short public fingerprint of a master key (never the key itself)."""
    return hmac.new(master, b"jobshadow key id v1", hashlib.sha256).hexdigest()[:16]


def _file_key(master: bytes, salt: bytes, header: bytes) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"jobshadow seal v1\x00" + header)
    return AESGCM(hkdf.derive(master))


def _fsync(raw: IO[bytes]) -> None:
    try:
        fd = raw.fileno()
    except (AttributeError, OSError, ValueError):
        return  # in-memory streams have nothing to sync
    os.fsync(fd)


def _nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


@dataclass(frozen=True)
class SealedHeader:
    raw: bytes
    fields: dict[str, Any]

    @property
    def key_id(self) -> str:
        return str(self.fields.get("key_id", ""))

    @property
    def content(self) -> str:
        return str(self.fields.get("content", ""))


KeyResolver = Callable[[SealedHeader], bytes]
"""Given a file's header, return the master key for it or raise WrongKey."""


class SealedWriter(io.BufferedIOBase):
    """A write-only, append-only file object that seals what is written to it.

    ``tell()`` reports the plaintext position so format writers (MCAP) can record offsets.
    Not thread-safe: one writer thread owns it.
    """

    def __init__(
        self,
        raw: IO[bytes],
        master: bytes,
        *,
        content: str,
        extra: dict[str, Any] | None = None,
        chunk_size: int = DEFAULT_CHUNK,
    ) -> None:
        super().__init__()
        if len(master) != 32:
            raise ValueError("master key must be 32 bytes")
        self._raw = raw
        self._chunk_size = min(chunk_size, MAX_CHUNK - TAG_SIZE)
        salt = os.urandom(32)
        fields: dict[str, Any] = {
            "v": VERSION,
            "alg": "AES-256-GCM",
            "kdf": "HKDF-SHA256",
            "key_id": key_id(master),
            "salt": base64.b64encode(salt).decode(),
            "content": content,
            **(extra or {}),
        }
        self.header = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
        self._aead = _file_key(master, salt, self.header)
        self._buf = bytearray()
        self._counter = 0
        self._pos = 0
        self._finished = False
        self._raw.write(MAGIC + _LEN.pack(len(self.header)) + self.header)

    # io.BufferedIOBase protocol -------------------------------------------------------------
    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._pos

    def write(self, data: Any) -> int:
        if self._finished:
            raise ValueError("write to a finished sealed file")
        mv = memoryview(data).cast("B")
        self._buf += mv
        self._pos += len(mv)
        while len(self._buf) >= self._chunk_size:
            self._seal(bytes(self._buf[: self._chunk_size]), last=False)
            del self._buf[: self._chunk_size]
        return len(mv)

    def flush(self) -> None:
        """Seal what is buffered into a chunk and hand it to the OS (no fsync)."""
        if self._buf and not self._finished:
            self._seal(bytes(self._buf), last=False)
            self._buf.clear()
        if not self._raw.closed:
            self._raw.flush()

    def sync(self) -> None:
        """Flush and fsync: after this returns the sealed bytes survive a crash."""
        self.flush()
        _fsync(self._raw)

    def finish(self) -> None:
        """Seal the final chunk (flagged last), fsync, and refuse further writes."""
        if self._finished:
            return
        self._seal(bytes(self._buf), last=True)
        self._buf.clear()
        self._finished = True
        self._raw.flush()
        _fsync(self._raw)

    def close(self) -> None:
        # Closing without finish() leaves the file recoverable but marked unfinished; only
        # finish() declares it complete.
        if not self.closed:
            if not self._finished:
                self.flush()
            self._raw.close()
        super().close()

    def _seal(self, plaintext: bytes, *, last: bool) -> None:
        ct = self._aead.encrypt(_nonce(self._counter, last), plaintext, self.header)
        self._counter += 1
        self._raw.write(_LEN.pack(len(ct)) + ct)


@dataclass
class OpenedSealed:
    header: SealedHeader
    plaintext: bytes
    complete: bool
    chunks: int
    problem: str | None


def read_header(raw: IO[bytes], name: str = "file") -> SealedHeader:
    magic = raw.read(len(MAGIC))
    if magic != MAGIC:
        raise SpoolCorrupt(f"{name} is not a sealed jobshadow file (bad magic)")
    lb = raw.read(4)
    if len(lb) != 4:
        raise SpoolCorrupt(f"{name} is truncated inside its header")
    (hlen,) = _LEN.unpack(lb)
    if hlen == 0 or hlen > MAX_HEADER:
        raise SpoolCorrupt(f"{name} has an implausible header length ({hlen} bytes)")
    hraw = raw.read(hlen)
    if len(hraw) != hlen:
        raise SpoolCorrupt(f"{name} is truncated inside its header")
    try:
        fields = json.loads(hraw)
    except (ValueError, UnicodeDecodeError):
        raise SpoolCorrupt(f"{name} has a malformed header") from None
    if not isinstance(fields, dict) or fields.get("v") != VERSION or fields.get("alg") != "AES-256-GCM":
        raise SpoolCorrupt(f"{name} has an unsupported header (version or algorithm)")
    if not isinstance(fields.get("salt"), str):
        raise SpoolCorrupt(f"{name} has a malformed header (salt)")
    return SealedHeader(raw=hraw, fields=fields)


def iter_chunks(raw: IO[bytes], master: bytes, header: SealedHeader, name: str) -> Iterator[tuple[bytes, bool]]:
    """Yield (plaintext, is_last) for each authenticated chunk; raise SpoolCorrupt on damage.

    Stops without error at a clean end of file (the caller decides whether an unfinished file
    is acceptable). A partial chunk at the end raises SpoolCorrupt mentioning truncation.
    """
    try:
        salt = base64.b64decode(header.fields["salt"], validate=True)
    except (ValueError, TypeError):
        raise SpoolCorrupt(f"{name} has a malformed header (salt)") from None
    aead = _file_key(master, salt, header.raw)
    counter = 0
    while True:
        lb = raw.read(4)
        if not lb:
            return
        if len(lb) < 4:
            raise Truncated(f"{name} is truncated after chunk {counter}")
        (clen,) = _LEN.unpack(lb)
        if clen < TAG_SIZE or clen > MAX_CHUNK:
            raise SpoolCorrupt(f"{name} chunk {counter} has an implausible length; the file was modified")
        ct = raw.read(clen)
        if len(ct) < clen:
            raise Truncated(f"{name} is truncated inside chunk {counter}")
        for last in (False, True):
            try:
                pt = aead.decrypt(_nonce(counter, last), ct, header.raw)
            except InvalidTag:
                continue
            yield pt, last
            break
        else:
            raise SpoolCorrupt(f"{name} chunk {counter} failed authentication; the file was modified")
        counter += 1
        if last:
            if raw.read(1):
                raise SpoolCorrupt(f"{name} has data after its final chunk; the file was modified")
            return


class SealedReader(io.RawIOBase):
    """Streams the authenticated plaintext of a sealed file, chunk by chunk (bounded memory).

    Raises SpoolCorrupt (or Truncated) from ``read`` as soon as damage is found; ``complete`` is
    true once the final chunk has been read and verified.
    """

    def __init__(self, raw: IO[bytes], resolve: KeyResolver, *, name: str = "file") -> None:
        super().__init__()
        self.header = read_header(raw, name)
        master = resolve(self.header)
        if key_id(master) != self.header.key_id:
            raise WrongKey(f"{name} was sealed with key {self.header.key_id}, not with the key available here")
        self._chunks = iter_chunks(raw, master, self.header, name)
        self._buf = b""
        self._pos = 0
        self.complete = False
        self._name = name
        self.plaintext_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while self._pos >= len(self._buf):
            try:
                pt, last = next(self._chunks)
            except StopIteration:
                if not self.complete:
                    raise Truncated(f"{self._name} was not finished (no final chunk)") from None
                return 0
            self._buf, self._pos = pt, 0
            self.plaintext_bytes += len(pt)
            self.complete = self.complete or last
        n = min(len(b), len(self._buf) - self._pos)
        b[:n] = self._buf[self._pos : self._pos + n]
        self._pos += n
        return n


def open_sealed(
    raw: IO[bytes], resolve: KeyResolver, *, name: str = "file", allow_unfinished: bool = False
) -> OpenedSealed:
    """Authenticate and decrypt a whole sealed file.

    With ``allow_unfinished`` a file that stops early (crash, truncation) returns the
    authenticated prefix with ``complete=False`` and a description in ``problem``; without it
    that is an error. Tampering is always an error.
    """
    header = read_header(raw, name)
    master = resolve(header)
    if key_id(master) != header.key_id:
        raise WrongKey(f"{name} was sealed with key {header.key_id}, not with the key available here")
    out = bytearray()
    complete = False
    chunks = 0
    problem: str | None = None
    try:
        for pt, last in iter_chunks(raw, master, header, name):
            out += pt
            chunks += 1
            complete = last
    except Truncated as exc:
        if not allow_unfinished:
            raise
        problem = str(exc)
    if not complete:
        problem = problem or f"{name} was not finished (no final chunk); it is truncated or still being written"
        if not allow_unfinished:
            raise Truncated(problem)
    return OpenedSealed(header=header, plaintext=bytes(out), complete=complete, chunks=chunks, problem=problem)
