"""The segment wire format: channel topics, their JSON schemas and metadata names (shared).

A segment is one MCAP file (zstd chunks, JSON message encoding) holding about a minute of one
recording. Device and server agree on nothing else, so this module is versioned by
``jobshadow.records.SCHEMA_VERSION`` and changes only by adding optional fields.

The screen travels as H.264 Annex-B access units in ``foxglove.CompressedVideo`` messages, so a
decrypted segment opens in Foxglove as is; the first frame of every segment is a keyframe, so a
segment decodes alone.
"""

from __future__ import annotations

import json
from typing import Any

from jobshadow.records import SCHEMA_VERSION

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

_MODS = {"type": "array", "items": {"type": "string"}}
_T = {"type": "number", "description": "seconds on the recorder's monotonic clock"}
_RECT = {
    "type": "object",
    "properties": {k: {"type": "integer"} for k in ("x", "y", "width", "height")},
    "required": ["x", "y", "width", "height"],
}
_WINDOW = {
    "type": "object",
    "properties": {
        "window_id": {"type": "integer"},
        "wm_instance": {"type": "string"},
        "wm_class": {"type": "string"},
        "title": {"type": "string"},
        "pid": {"type": ["integer", "null"]},
        "process": {"type": ["string", "null"]},
        "geometry": _RECT,
        "frame": {"anyOf": [_RECT, {"type": "null"}]},
        "role": {"type": "string"},
        "states": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["window_id", "wm_instance", "wm_class", "title", "geometry"],
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "jobshadow.Keyboard": {
        "title": "jobshadow.Keyboard",
        "description": "A key press or release, or a marker where typed keys were redacted.",
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    "kind": {"enum": ["key_press", "key_release"]},
                    "t": _T,
                    "keycode": {"type": "integer"},
                    "keysym": {"type": "integer"},
                    "keysym_name": {"type": "string"},
                    "char": {"type": ["string", "null"], "description": "the character produced, or null"},
                    "modifiers": _MODS,
                    "window_id": {"type": ["integer", "null"]},
                },
                "required": ["kind", "t", "keycode", "keysym", "keysym_name", "char", "modifiers"],
            },
            {
                "type": "object",
                "properties": {
                    "kind": {"const": "redaction"},
                    "t": _T,
                    "finding": {"type": "string", "description": "kind of secret or PII removed"},
                },
                "required": ["kind", "t", "finding"],
            },
        ],
    },
    "jobshadow.Mouse": {
        "title": "jobshadow.Mouse",
        "description": "Pointer motion, button press/release and wheel notches, in root-window pixels.",
        "type": "object",
        "properties": {
            "kind": {"enum": ["mouse_move", "mouse_press", "mouse_release", "scroll"]},
            "t": _T,
            "x": {"type": "integer"},
            "y": {"type": "integer"},
            "button": {"type": "integer"},
            "dx": {"type": "integer"},
            "dy": {"type": "integer"},
            "modifiers": _MODS,
        },
        "required": ["kind", "t", "x", "y"],
    },
    "jobshadow.Focus": {
        "title": "jobshadow.Focus",
        "description": "The active window changed (null: no window has focus or it is out of scope).",
        "type": "object",
        "properties": {
            "kind": {"const": "focus"},
            "t": _T,
            "window": {"anyOf": [_WINDOW, {"type": "null"}]},
            "carried": {"type": "boolean", "description": "repeated at segment start; not a change"},
        },
        "required": ["kind", "t", "window"],
    },
    "foxglove.CompressedVideo": {
        "title": "foxglove.CompressedVideo",
        "description": "A single frame of a compressed video bitstream",
        "type": "object",
        "properties": {
            "timestamp": {
                "type": "object",
                "properties": {"sec": {"type": "integer", "minimum": 0}, "nsec": {"type": "integer", "minimum": 0}},
                "required": ["sec", "nsec"],
            },
            "frame_id": {"type": "string"},
            "data": {"type": "string", "contentEncoding": "base64"},
            "format": {"type": "string"},
        },
        "required": ["timestamp", "frame_id", "data", "format"],
    },
    "jobshadow.Frame": {
        "title": "jobshadow.Frame",
        "description": "Metadata of one encoded frame: why it was taken, screen geometry, window stacking.",
        "type": "object",
        "properties": {
            "kind": {"const": "frame"},
            "t": _T,
            "seq": {"type": "integer"},
            "reason": {"enum": ["start", "change", "before_action", "after_action", "final"]},
            "grabbed_at": _T,
            "width": {"type": "integer"},
            "height": {"type": "integer"},
            "keyframe": {"type": "boolean"},
            "monitors": {"type": "array"},
            "windows": {"type": "array"},
            "masked_area": {"type": "integer"},
            "shielded_area": {"type": "integer"},
        },
        "required": ["kind", "t", "seq", "reason", "width", "height", "keyframe", "monitors", "windows"],
    },
    "jobshadow.RecorderEvent": {
        "title": "jobshadow.RecorderEvent",
        "description": "Frame drops (counted by reason) and lifecycle markers (pause, resume, tasks).",
        "type": "object",
        "properties": {
            "kind": {"enum": ["frame_drop", "marker"]},
            "t": _T,
            "reason": {"type": "string"},
            "count": {"type": "integer"},
            "name": {"type": "string"},
            "detail": {"type": "object"},
        },
        "required": ["kind", "t"],
    },
}

# topic -> schema name
CHANNELS: dict[str, str] = {
    TOPIC_KEYBOARD: "jobshadow.Keyboard",
    TOPIC_MOUSE: "jobshadow.Mouse",
    TOPIC_FOCUS: "jobshadow.Focus",
    TOPIC_VIDEO: "foxglove.CompressedVideo",
    TOPIC_FRAMES: "jobshadow.Frame",
    TOPIC_RECORDER: "jobshadow.RecorderEvent",
}

# record kind -> topic
KIND_TOPIC: dict[str, str] = {
    "key_press": TOPIC_KEYBOARD,
    "key_release": TOPIC_KEYBOARD,
    "redaction": TOPIC_KEYBOARD,
    "mouse_move": TOPIC_MOUSE,
    "mouse_press": TOPIC_MOUSE,
    "mouse_release": TOPIC_MOUSE,
    "scroll": TOPIC_MOUSE,
    "focus": TOPIC_FOCUS,
    "frame": TOPIC_FRAMES,
    "frame_drop": TOPIC_RECORDER,
    "marker": TOPIC_RECORDER,
}

EVENT_KINDS = ("key_press", "key_release", "mouse_move", "mouse_press", "mouse_release", "scroll")


def schema_bytes(name: str) -> bytes:
    schema = dict(SCHEMAS[name])
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["x-jobshadow-schema-version"] = SCHEMA_VERSION
    return json.dumps(schema, sort_keys=True).encode()
