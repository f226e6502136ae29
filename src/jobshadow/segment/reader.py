"""Read a segment's MCAP bytes back into messages, typed records and metadata (shared).

``parse`` is strict by default; with ``tolerant=True`` it returns everything up to the first
damaged or missing record, which is how a crashed recorder's last segment is recovered.
``SegmentContent.records`` decodes messages into the structs of ``jobshadow.records`` — the same
types the device wrote — validating every field; ``decode`` does it for one message.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
from mcap.exceptions import McapError
from mcap.records import Channel, Footer, Message, Metadata, Schema
from mcap.stream_reader import StreamReader

from jobshadow.errors import SpoolCorrupt
from jobshadow.records import INPUT_KINDS, KINDS, FocusChange, FrameDrop, Record, Redaction
from jobshadow.segment.format import CHANNEL_DEFS, META_END, META_RECOVERED, META_SEGMENT, TOPIC_FRAMES, TOPIC_VIDEO
from jobshadow.segment.writer import decode_metadata

# A segment is at most a few hundred MB decoded; anything claiming more is damaged or hostile.
RECORD_LIMIT = 256 * 1024 * 1024


class _Kind(msgspec.Struct):
    kind: str = ""


_KIND = msgspec.json.Decoder(_Kind)
_DECODERS: dict[type[Record], msgspec.json.Decoder[Any]] = {
    struct: msgspec.json.Decoder(struct) for ch in CHANNEL_DEFS.values() for struct in ch.records}


def decode(topic: str, data: bytes) -> Record | None:
    """One message as the record struct it was written from.

    None for a topic or a ``kind`` this version does not know (written by a newer recorder: its
    records are skipped, never guessed at). A body that does not match its struct raises
    ``SpoolCorrupt``.
    """
    channel = CHANNEL_DEFS.get(topic)
    if channel is None:
        return None
    try:
        if len(channel.records) == 1:
            struct = channel.records[0]
        else:
            found = KINDS.get(_KIND.decode(data).kind)
            if found not in channel.records:
                return None
            struct = found
        out: Record = _DECODERS[struct].decode(data)
    except msgspec.ValidationError as exc:
        raise SpoolCorrupt(f"a {topic} message does not match its schema: {exc}") from None
    except msgspec.DecodeError:
        raise SpoolCorrupt(f"a {topic} message is not JSON") from None
    return out


@dataclass(frozen=True)
class RawMessage:
    topic: str
    log_time: int
    data: bytes
    schema_name: str


@dataclass
class SegmentContent:
    schemas: dict[int, Schema] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    messages: list[RawMessage] = field(default_factory=list)
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    complete: bool = False
    problem: str | None = None

    def iter_decoded(self, *topics: str) -> Iterator[tuple[str, int, dict[str, Any]]]:
        """(topic, log_time_ns, body) in log-time order, optionally restricted to topics."""
        wanted = set(topics)
        msgs = [m for m in self.messages if not wanted or m.topic in wanted]
        msgs.sort(key=lambda m: m.log_time)
        for m in msgs:
            yield m.topic, m.log_time, json.loads(m.data)

    def records(self, *topics: str) -> Iterator[tuple[str, int, Record]]:
        """(topic, log_time_ns, record) in log-time order, optionally restricted to topics."""
        wanted = set(topics)
        msgs = [m for m in self.messages if not wanted or m.topic in wanted]
        msgs.sort(key=lambda m: m.log_time)
        for m in msgs:
            rec = decode(m.topic, m.data)
            if rec is not None:
                yield m.topic, m.log_time, rec

    @property
    def segment_meta(self) -> dict[str, Any]:
        return self.metadata.get(META_SEGMENT, {})


def parse(data: bytes, *, tolerant: bool = False, name: str = "segment") -> SegmentContent:
    content = SegmentContent()
    reader = StreamReader(io.BytesIO(data), record_size_limit=RECORD_LIMIT)
    try:
        for rec in reader.records:
            if isinstance(rec, Schema):
                content.schemas[rec.id] = rec
            elif isinstance(rec, Channel):
                content.channels[rec.id] = rec
            elif isinstance(rec, Message):
                ch = content.channels.get(rec.channel_id)
                if ch is None:
                    raise SpoolCorrupt(f"{name}: message on unknown channel {rec.channel_id}")
                schema = content.schemas.get(ch.schema_id)
                content.messages.append(
                    RawMessage(ch.topic, rec.log_time, rec.data, schema.name if schema else "")
                )
            elif isinstance(rec, Metadata):
                content.metadata[rec.name] = decode_metadata(dict(rec.metadata))
            elif isinstance(rec, Footer):
                content.complete = True
    except (McapError, ValueError, EOFError, KeyError, IndexError, OSError) as exc:
        # mcap raises a mix of its own errors, struct/zstd ValueErrors and EOF on truncation.
        if not tolerant:
            raise SpoolCorrupt(f"{name} is not a well-formed MCAP segment ({type(exc).__name__})") from None
        content.problem = f"MCAP data stops early ({type(exc).__name__})"
    if not content.complete and not tolerant:
        raise SpoolCorrupt(f"{name} is not a finished MCAP segment (no footer)")
    return content


def summarize(content: SegmentContent) -> dict[str, Any]:
    """The ``segments inspect --json`` object."""
    events = dict.fromkeys(INPUT_KINDS, 0)
    frames = 0
    window_changes = 0
    dropped = 0
    redactions = 0
    first: int | None = None
    last: int | None = None
    for m in content.messages:
        first = m.log_time if first is None or m.log_time < first else first
        last = m.log_time if last is None or m.log_time > last else last
    for topic, _ns, rec in content.records(*(t for t in CHANNEL_DEFS if t != TOPIC_VIDEO)):
        kind = getattr(rec, "kind", None)
        if topic == TOPIC_FRAMES:
            frames += 1
        elif isinstance(rec, FocusChange):
            window_changes += 0 if rec.carried else 1
        elif kind in events:
            events[kind] += 1
        elif isinstance(rec, Redaction):
            redactions += 1
        elif isinstance(rec, FrameDrop):
            dropped += rec.count
    meta = content.segment_meta
    offset = float(meta.get("wall_offset", 0.0))
    return {
        "id": meta.get("segment_id"),
        "events": events,
        "frames": frames,
        "window_changes": window_changes,
        "dropped_frames": dropped,
        "redactions": redactions,
        "start": _iso(first, offset),
        "end": _iso(last, offset),
        "complete": content.complete,
        "recovered": META_RECOVERED in content.metadata,
        "finished_by": content.metadata.get(META_END, {}).get("finished_by"),
    }


def _iso(ns: int | None, offset: float) -> str | None:
    if ns is None:
        return None
    return datetime.fromtimestamp(ns / 1e9 + offset, tz=UTC).isoformat(timespec="milliseconds")
