"""Streams that hash what passes through them, in the same pass (every zone).

The uploader hashes a segment's plaintext while it re-seals it and the sealed bytes while it
writes them; the collector hashes an upload's sealed bytes while it decrypts them and the
plaintext while it checks the MCAP structure. One reader and one writer do all of it (SHA-256,
the hash the wire format names). Imports nothing from jobshadow.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

_DRAIN = 4 * 2**20


class HashingReader(io.RawIOBase):
    """Reads from ``inner`` (anything with ``readinto`` or ``read``), hashing every byte read."""

    def __init__(self, inner: Any) -> None:
        super().__init__()
        self.inner = inner
        self.sha = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        readinto = getattr(self.inner, "readinto", None)
        if readinto is not None:
            n = readinto(view) or 0
        else:
            data = self.inner.read(len(view))
            n = len(data)
            view[:n] = data
        self.sha.update(view[:n])
        self.size += n
        return n

    def hexdigest(self, *, drain: bool = False) -> str:
        """The hash of what was read; ``drain``: of everything, reading what is left first."""
        if drain:
            while self.read(_DRAIN):
                pass
        return self.sha.hexdigest()


class HashingWriter(io.RawIOBase):
    """Writes to ``inner``, hashing and counting every byte written."""

    def __init__(self, inner: Any) -> None:
        super().__init__()
        self.inner = inner
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = bytes(b)
        self.inner.write(data)
        self.sha.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        self.inner.flush()

    def fileno(self) -> int:
        return int(self.inner.fileno())
