"""Write one segment: records and encoded frames into an MCAP stream (device trust zone).

The writer knows nothing about encryption: it writes to any binary stream with ``tell()``;
``flush`` ends the current MCAP chunk so everything written so far is self-contained on disk.
Not thread-safe: the spool's writer thread owns it.
"""

from __future__ import annotations

import json
from typing import IO, Any, Protocol, cast

import msgspec
from mcap.writer import CompressionType, IndexType, Writer

from jobshadow import __version__
from jobshadow.records import CompressedVideo, EncodedFrame, EventRecord, VideoTime
from jobshadow.segment.format import (
    CHANNELS,
    KIND_TOPIC,
    MESSAGE_ENCODING,
    META_END,
    META_SEGMENT,
    PROFILE,
    TOPIC_FRAMES,
    TOPIC_VIDEO,
    schema_bytes,
)

_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_ENCODE = msgspec.json.Encoder().encode


def encode_metadata(values: dict[str, Any]) -> dict[str, str]:
    """MCAP metadata maps strings to strings; values are stored as JSON."""
    return {k: _DUMPS(v) for k, v in values.items()}


def decode_metadata(values: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in values.items():
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    return out


class BinarySink(Protocol):
    """What the writer needs from its output: an append-only binary stream with a position."""

    def write(self, data: Any, /) -> int: ...

    def tell(self) -> int: ...

    def flush(self) -> None: ...


class SegmentWriter:
    def __init__(self, stream: BinarySink, meta: dict[str, Any], *, chunk_size: int = 4 * 1024 * 1024) -> None:
        self._stream = stream
        # mcap only calls write/tell/flush, which BinarySink guarantees. No per-message index:
        # it is stored uncompressed (16 bytes per message, more than the compressed events
        # themselves) and our chunks cover half a second each, so chunk indexes suffice to seek.
        self._w = Writer(
            cast("IO[bytes]", stream),
            chunk_size=chunk_size,
            compression=CompressionType.ZSTD,
            index_types=IndexType.CHUNK | IndexType.METADATA | IndexType.ATTACHMENT,
        )
        self._w.start(profile=PROFILE, library=f"jobshadow {__version__}")
        self._channels: dict[str, int] = {}
        for topic, schema_name in CHANNELS.items():
            sid = self._w.register_schema(name=schema_name, encoding="jsonschema", data=schema_bytes(schema_name))
            self._channels[topic] = self._w.register_channel(
                topic=topic, message_encoding=MESSAGE_ENCODING, schema_id=sid
            )
        self._w.add_metadata(META_SEGMENT, encode_metadata(meta))
        self._seq: dict[str, int] = dict.fromkeys(CHANNELS, 0)
        self.counts: dict[str, int] = {}
        self.first_t: float | None = None
        self.last_t: float | None = None
        self.frames = 0
        self.finished = False

    @property
    def bytes_written(self) -> int:
        return self._stream.tell()

    def _add(self, topic: str, t: float, payload: bytes) -> None:
        ns = max(0, int(t * 1e9))
        self._w.add_message(
            channel_id=self._channels[topic],
            log_time=ns,
            publish_time=ns,
            data=payload,
            sequence=self._seq[topic],
        )
        self._seq[topic] += 1
        if self.first_t is None or t < self.first_t:
            self.first_t = t
        if self.last_t is None or t > self.last_t:
            self.last_t = t

    def write(self, record: EventRecord) -> None:
        """Write one event record (key, mouse, focus, marker, …) on its channel."""
        kind = record.kind
        self._add(KIND_TOPIC[kind], record.t, _ENCODE(record))
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def write_frame(self, frame: EncodedFrame) -> None:
        meta = frame.meta
        sec = int(meta.t)
        video = CompressedVideo(VideoTime(max(sec, 0), max(0, int((meta.t - sec) * 1e9))), str(meta.seq),
                                frame.data, "h264")
        self._add(TOPIC_VIDEO, meta.t, _ENCODE(video))
        self._add(TOPIC_FRAMES, meta.t, _ENCODE(meta))
        self.frames += 1

    def write_raw(self, topic: str, log_time: int, data: bytes) -> None:
        """Copy a message verbatim (recovery of a crashed segment)."""
        if topic not in self._channels:
            return
        self._add(topic, log_time / 1e9, data)
        if topic == TOPIC_FRAMES:
            self.frames += 1

    def add_metadata(self, name: str, values: dict[str, Any]) -> None:
        self._w.add_metadata(name, encode_metadata(values))

    def flush(self) -> None:
        """End the current chunk and push it to the stream (the stream decides about fsync)."""
        self._w.flush()  # type: ignore[no-untyped-call]

    def finish(self, end: dict[str, Any]) -> None:
        """Write the end metadata, summary and footer. The stream stays open for its owner."""
        if self.finished:
            return
        self._w.add_metadata(META_END, encode_metadata(end))
        self._w.finish()  # type: ignore[no-untyped-call]
        self.finished = True
