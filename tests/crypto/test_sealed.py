"""Sealed files: round trip, truncation vs tampering vs wrong key, hostile headers."""

from __future__ import annotations

import io
import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobshadow.crypto.sealed import MAGIC, SealedWriter, open_sealed
from jobshadow.errors import SpoolCorrupt, Truncated, WrongKey

KEY = bytes(range(32))


def seal(chunks: list[bytes], *, finish: bool = True, chunk_size: int = 64) -> bytes:
    buf = io.BytesIO()
    w = SealedWriter(buf, KEY, content="test", chunk_size=chunk_size)
    for c in chunks:
        w.write(c)
        w.flush()
    if finish:
        w.finish()
    return buf.getvalue()


@given(st.lists(st.binary(max_size=300), max_size=8))
@settings(max_examples=50)
def test_round_trip(chunks: list[bytes]) -> None:
    data = seal(chunks)
    opened = open_sealed(io.BytesIO(data), lambda h: KEY)
    assert opened.plaintext == b"".join(chunks)
    assert opened.complete


def test_no_plaintext_in_the_file() -> None:
    secret = b"AKIAIOSFODNN7EXAMPLE-canary-" * 20
    assert secret[:20] not in seal([secret])


def test_unfinished_file_is_truncated_but_recoverable() -> None:
    data = seal([b"a" * 100, b"b" * 100], finish=False)
    with pytest.raises(Truncated):
        open_sealed(io.BytesIO(data), lambda h: KEY)
    opened = open_sealed(io.BytesIO(data), lambda h: KEY, allow_unfinished=True)
    assert opened.plaintext == b"a" * 100 + b"b" * 100 and not opened.complete


@pytest.mark.parametrize("cut", [1, 5, 17, 40])
def test_cut_inside_a_chunk_keeps_the_authenticated_prefix(cut: int) -> None:
    data = seal([b"x" * 50, b"y" * 50])
    opened = open_sealed(io.BytesIO(data[:-cut]), lambda h: KEY, allow_unfinished=True)
    assert not opened.complete
    assert b"y" not in opened.plaintext or opened.plaintext.startswith(b"x" * 50)
    assert opened.plaintext in (b"x" * 50, b"x" * 50 + b"y" * 50)


def test_every_flipped_byte_after_the_magic_is_detected() -> None:
    data = seal([b"hello world" * 10, b"more"])
    for i in range(len(MAGIC), len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x40
        with pytest.raises(SpoolCorrupt):
            open_sealed(io.BytesIO(bytes(bad)), lambda h: KEY)


def test_dropped_and_reordered_chunks_are_detected() -> None:
    data = seal([b"1" * 10, b"2" * 10, b"3" * 10])
    hlen = struct.unpack(">I", data[8:12])[0]
    body = data[12 + hlen :]
    chunks = []
    off = 0
    while off < len(body):
        n = struct.unpack(">I", body[off : off + 4])[0]
        chunks.append(body[off : off + 4 + n])
        off += 4 + n
    head = data[: 12 + hlen]
    swapped = head + chunks[1] + chunks[0] + b"".join(chunks[2:])
    dropped = head + chunks[0] + b"".join(chunks[2:])
    for bad in (swapped, dropped):
        with pytest.raises(SpoolCorrupt):
            open_sealed(io.BytesIO(bad), lambda h: KEY)


def test_wrong_key_is_told_apart() -> None:
    data = seal([b"data"])
    with pytest.raises(WrongKey, match="sealed with key"):
        open_sealed(io.BytesIO(data), lambda h: os.urandom(32))


@pytest.mark.parametrize(
    "blob",
    [b"", b"not sealed at all", MAGIC, MAGIC + b"\xff\xff\xff\xff", MAGIC + struct.pack(">I", 5) + b"{bad}",
     MAGIC + struct.pack(">I", 2) + b"[]", MAGIC + struct.pack(">I", 9) + b'{"v": 9}'],
)
def test_hostile_headers_are_rejected(blob: bytes) -> None:
    with pytest.raises(SpoolCorrupt):
        open_sealed(io.BytesIO(blob), lambda h: KEY)


def test_forged_huge_chunk_length_is_rejected_without_allocating() -> None:
    data = seal([b"abc"])
    hlen = struct.unpack(">I", data[8:12])[0]
    bad = data[: 12 + hlen] + struct.pack(">I", 0xFFFFFFF0) + b"x" * 32
    with pytest.raises(SpoolCorrupt, match="implausible"):
        open_sealed(io.BytesIO(bad), lambda h: KEY)
