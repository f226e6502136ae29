"""The segment wire format: channel topics, the records each carries, their JSON schemas (shared).

A segment is one MCAP file (zstd chunks, JSON message encoding) holding about a minute of one
recording. Device and server agree on nothing else, so this module is versioned by
``jobshadow.records.SCHEMA_VERSION`` and changes only by adding optional fields.

Each channel carries one or more record structs of ``jobshadow.records``; its JSON Schema is
generated from them (``schema_bytes``), so a field added to a record is in the schema of every
segment written from then on. The screen travels as H.264 Annex-B access units in
``foxglove.CompressedVideo`` messages, so a decrypted segment opens in Foxglove as is; the first
frame of every segment is a keyframe, so a segment decodes alone.
"""

from __future__ import annotations

import functools
import json
import typing
from typing import Any

import msgspec

from jobshadow.records import (
    INPUT_KINDS,
    SCHEMA_VERSION,
    CompressedVideo,
    FocusChange,
    FrameDrop,
    FrameMeta,
    KeyEvent,
    Marker,
    MouseButton,
    MouseMove,
    Record,
    Redaction,
    Scroll,
)

PROFILE = "jobshadow"
MESSAGE_ENCODING = "json"

TOPIC_KEYBOARD = "/input/keyboard"
TOPIC_MOUSE = "/input/mouse"
TOPIC_FOCUS = "/window/focus"
TOPIC_VIDEO = "/screen/video"
TOPIC_FRAMES = "/screen/frames"
TOPIC_RECORDER = "/recorder/events"

META_SEGMENT = "jobshadow.segment"
META_END = "jobshadow.segment.end"
META_RECOVERED = "jobshadow.segment.recovered"


class Channel(msgspec.Struct, frozen=True):
    schema: str  # the MCAP schema name
    description: str
    records: tuple[type[Record], ...]


CHANNEL_DEFS: dict[str, Channel] = {
    TOPIC_KEYBOARD: Channel("jobshadow.Keyboard", "A key press or release, or a marker where typed keys were "
                            "redacted.", (KeyEvent, Redaction)),
    TOPIC_MOUSE: Channel("jobshadow.Mouse", "Pointer motion, button press/release and wheel notches, in "
                         "root-window pixels.", (MouseMove, MouseButton, Scroll)),
    TOPIC_FOCUS: Channel("jobshadow.Focus", "The active window changed (null: no window has focus or it is out "
                         "of scope).", (FocusChange,)),
    TOPIC_VIDEO: Channel("foxglove.CompressedVideo", "A single frame of a compressed video bitstream",
                         (CompressedVideo,)),
    TOPIC_FRAMES: Channel("jobshadow.Frame", "Metadata of one encoded frame: why it was taken, screen geometry, "
                          "window stacking.", (FrameMeta,)),
    TOPIC_RECORDER: Channel("jobshadow.RecorderEvent", "Frame drops (counted by reason) and lifecycle markers "
                            "(pause, resume, tasks).", (FrameDrop, Marker)),
}

# topic -> schema name
CHANNELS: dict[str, str] = {topic: ch.schema for topic, ch in CHANNEL_DEFS.items()}


def kinds_of(struct: type[Record]) -> tuple[str, ...]:
    """The ``kind`` values a record struct carries (from its ``kind`` field's Literal type)."""
    hints = typing.get_type_hints(struct, include_extras=True)
    if "kind" not in hints:
        return ()
    kind = hints["kind"]
    if typing.get_origin(kind) is typing.Annotated:
        kind = typing.get_args(kind)[0]
    return tuple(str(v) for v in typing.get_args(kind))


# record kind -> topic
KIND_TOPIC: dict[str, str] = {kind: topic for topic, ch in CHANNEL_DEFS.items() for struct in ch.records
                              for kind in kinds_of(struct)}

EVENT_KINDS = INPUT_KINDS


@functools.cache
def channel_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of the channel whose schema is ``name``, generated from its record structs."""
    channel = next(ch for ch in CHANNEL_DEFS.values() if ch.schema == name)
    (*refs,), defs = msgspec.json.schema_components(channel.records, ref_template="#/$defs/{name}")
    bodies = [defs.pop(ref["$ref"].rsplit("/", 1)[-1]) for ref in refs]
    schema: dict[str, Any] = {"title": name, "description": channel.description}
    if len(bodies) == 1:
        schema.update({k: v for k, v in bodies[0].items() if k not in ("title", "description")})
    else:
        schema["oneOf"] = bodies
    if defs:
        schema["$defs"] = defs
    return schema


SCHEMAS: dict[str, dict[str, Any]] = {name: channel_schema(name) for name in CHANNELS.values()}


def schema_bytes(name: str) -> bytes:
    schema = dict(SCHEMAS[name])
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["x-jobshadow-schema-version"] = SCHEMA_VERSION
    return json.dumps(schema, sort_keys=True).encode()
