"""Verification of an upload in one pass: payload hash, decryption, MCAP structure (collector).

A sealed upload is read once: its bytes are hashed (the payload hash the request declared) while
they are decrypted with the landing key and streamed through the MCAP reader, which checks every
record, chunk CRC and the footer, and hashes the plaintext (the content hash). The segment's
metadata must carry the claimed segment id, types the landing table can hold, and — when the
device stamped one — the collection scope version it was captured under. Message payloads are
not parsed here (curation does that).
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from datetime import datetime
from typing import Any, BinaryIO

import zstandard
from mcap.records import Chunk, Footer, Metadata
from mcap.stream_reader import StreamReader

from jobshadow.crypto.sealed import SealedReader
from jobshadow.errors import JobshadowError, RequestRejected
from jobshadow.hashing import HashingReader
from jobshadow.segment.format import META_END, META_SEGMENT
from jobshadow.segment.writer import decode_metadata


def verify_sealed_segment(raw: BinaryIO, key_for: Callable[[Any], bytes], payload_sha256: str, content_hash: str,
                          segment_id: str) -> dict[str, Any]:
    """One pass over a sealed upload: its payload hash, decryption, MCAP structure and content hash.

    A payload that is not what its hash says is reported as such (damaged in transit) before
    any complaint about what it decrypts to.
    """
    src = HashingReader(raw)  # the sealed payload, hashed as it is decrypted
    try:
        reader = SealedReader(src, key_for, name="upload")  # type: ignore[arg-type]
        info = check_segment(reader, content_hash, segment_id)
    except (RequestRejected, JobshadowError) as exc:
        if src.hexdigest(drain=True) != payload_sha256:
            raise RequestRejected(422, "payload_hash_mismatch",
                                  "the payload does not match its declared SHA-256") from None
        if isinstance(exc, RequestRejected):
            raise
        raise RequestRejected(422, "not_decryptable", f"payload does not decrypt: {exc}") from None
    if src.hexdigest(drain=True) != payload_sha256:
        raise RequestRejected(422, "payload_hash_mismatch", "the payload does not match its declared SHA-256")
    return info


def check_segment(plaintext: io.RawIOBase, content_hash: str, segment_id: str) -> dict[str, Any]:
    """Stream-check that bytes are a finished jobshadow MCAP segment with the claimed hash and id.

    Every top-level record must parse, every chunk must decompress and match its CRC, the file
    must end with a footer, and it must carry the jobshadow segment metadata. Message payloads
    are not parsed here (that is the curation stage's job); this is about integrity.
    """
    hashing = HashingReader(plaintext)  # the MCAP plaintext, for the content hash
    reader = StreamReader(io.BufferedReader(hashing, 1 << 20), emit_chunks=True, record_size_limit=256 * 2**20)
    meta: dict[str, Any] = {}
    end: dict[str, Any] = {}
    footer = False
    chunks = 0
    zstd = zstandard.ZstdDecompressor()  # one per segment: a recorder segment has a chunk every 0.5 s
    try:
        for rec in reader.records:
            if isinstance(rec, Chunk):
                if rec.compression == "zstd":
                    data = zstd.decompress(rec.data, max_output_size=rec.uncompressed_size)
                elif rec.compression == "":
                    data = rec.data
                else:
                    raise RequestRejected(422, "not_mcap", f"unsupported chunk compression {rec.compression!r}")
                if len(data) != rec.uncompressed_size or (rec.uncompressed_crc and
                                                          zlib.crc32(data) != rec.uncompressed_crc):
                    raise RequestRejected(422, "not_mcap", "a chunk fails its CRC")
                chunks += 1
            elif isinstance(rec, Metadata):
                if rec.name == META_SEGMENT:
                    meta = decode_metadata(dict(rec.metadata))
                elif rec.name == META_END:
                    end = decode_metadata(dict(rec.metadata))
            elif isinstance(rec, Footer):
                footer = True
        rest = hashing.read()
        while rest:
            rest = hashing.read()
    except RequestRejected:
        raise
    except JobshadowError as exc:
        raise RequestRejected(422, "not_decryptable", f"payload does not decrypt: {exc}") from None
    except Exception as exc:  # mcap/zstd raise many types on garbage
        raise RequestRejected(422, "not_mcap",
                              f"payload is not a well-formed MCAP segment ({type(exc).__name__})") from None
    if not footer:
        raise RequestRejected(422, "not_mcap", "the MCAP segment is not finished (no footer)")
    if not meta:
        raise RequestRejected(422, "not_a_segment", "the MCAP file carries no jobshadow segment metadata")
    if hashing.sha.hexdigest() != content_hash:
        raise RequestRejected(422, "content_hash_mismatch", "the segment does not match its declared content hash")
    _check_metadata(meta, end)
    if meta.get("segment_id") != segment_id:
        raise RequestRejected(422, "segment_id_mismatch", "the segment id inside differs from the declared one")
    wall = float(meta.get("wall_offset", 0.0))
    return {
        "scope": captured_under(meta),
        "session_id": meta.get("session_id"),
        "started": meta.get("started"),
        "ended": end.get("ended"),
        "schema_version": int(meta.get("schema_version", 1)),
        "chunks": chunks,
        "wall_offset": wall,
    }


def _check_metadata(meta: dict[str, Any], end: dict[str, Any]) -> None:
    """The segment metadata the landing table stores must have the table's types and ranges.

    A device could write anything there; a value the table cannot hold would fail the Iceberg
    append of every batch it is in, holding back other devices' segments with it.
    """
    def bad(what: str) -> RequestRejected:
        return RequestRejected(422, "not_a_segment", f"the segment metadata has an invalid {what}")

    version = meta.get("schema_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= 1000:
        raise bad("schema_version")
    session = meta.get("session_id")
    if session is not None and (not isinstance(session, str) or len(session) > 128):
        raise bad("session_id")
    for name, value in (("started", meta.get("started")), ("ended", end.get("ended"))):
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > 64:
            raise bad(name)
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise bad(name) from None
    if not isinstance(meta.get("wall_offset", 0.0), int | float):
        raise bad("wall_offset")
    scope = meta.get("scope")
    if scope is not None and not isinstance(scope, dict):
        raise bad("scope")
    if isinstance(scope, dict):
        scope_name, version = scope.get("name"), scope.get("version")
        if scope_name is not None and (not isinstance(scope_name, str) or len(scope_name) > 100):
            raise bad("scope name")
        if version is not None and (not isinstance(version, int) or isinstance(version, bool)
                                    or not 1 <= version <= 2**31):
            raise bad("scope version")


def captured_under(meta: dict[str, Any]) -> tuple[str, int] | None:
    """The collection scope version the device stamped into the segment, if it stamped one.

    Whether that version may vouch for the segment (it exists and was activated after its privacy
    review) is for the landing step to decide; a segment without a stamp serves no purpose.
    """
    scope = meta.get("scope")
    if not isinstance(scope, dict):
        return None
    name, version = scope.get("name"), scope.get("version")
    if isinstance(name, str) and isinstance(version, int) and not isinstance(version, bool):
        return name, version
    return None

