"""Segments: records and frames written, read back, summarised; truncated prefixes recovered."""

from __future__ import annotations

import io

import pytest

from jobshadow.errors import SpoolCorrupt
from jobshadow.records import (
    EncodedFrame,
    FocusChange,
    FrameMeta,
    KeyEvent,
    MouseButton,
    MouseMove,
    Rect,
    Scroll,
    WindowInfo,
)
from jobshadow.segment.format import SCHEMAS, schema_bytes
from jobshadow.segment.reader import parse, summarize
from jobshadow.segment.writer import SegmentWriter


def key(t: float, kind: str = "key_press", ch: str = "a") -> KeyEvent:
    return KeyEvent(t, kind, 38, ord(ch), ch, ch, (), 42)  # type: ignore[arg-type]


def write_sample(buf: io.BytesIO, finish: bool = True) -> SegmentWriter:
    w = SegmentWriter(buf, {"segment_id": "s1", "wall_offset": 1_700_000_000.0})
    w.write(FocusChange(1.0, WindowInfo(42, "xterm", "XTerm", "t", 1, "xterm", Rect(0, 0, 10, 10))))
    w.write(key(1.1))
    w.write(key(1.2, "key_release"))
    w.write(MouseMove(1.3, 5, 6))
    w.write(MouseButton(1.4, "mouse_press", 1, 5, 6))
    w.write(MouseButton(1.5, "mouse_release", 1, 5, 6))
    w.write(Scroll(1.6, 5, 6, 0, 1))
    meta = FrameMeta(1.05, 1, "start", 1.0, 16, 16, True, (), ())
    w.write_frame(EncodedFrame(meta, b"\x00\x00\x00\x01fake"))
    w.flush()
    if finish:
        w.finish({"finished_by": "stop"})
    return w


def test_round_trip_and_summary() -> None:
    buf = io.BytesIO()
    write_sample(buf)
    content = parse(buf.getvalue())
    s = summarize(content)
    assert s["events"] == {"key_press": 1, "key_release": 1, "mouse_move": 1, "mouse_press": 1,
                           "mouse_release": 1, "scroll": 1}
    assert s["frames"] == 1 and s["window_changes"] == 1 and s["complete"]
    assert s["start"].startswith("2023-11-14T22:13:21")
    assert s["finished_by"] == "stop"


def test_unfinished_segment_is_strictly_rejected_but_tolerantly_read() -> None:
    buf = io.BytesIO()
    write_sample(buf, finish=False)
    data = buf.getvalue()
    with pytest.raises(SpoolCorrupt):
        parse(data)
    content = parse(data[:-3], tolerant=True)
    assert not content.complete and content.problem


def test_garbage_is_not_a_segment() -> None:
    with pytest.raises(SpoolCorrupt):
        parse(b"\x89MCAP0\r\n" + b"\xff" * 100)


def test_every_schema_is_valid_json_schema() -> None:
    import json

    for name in SCHEMAS:
        schema = json.loads(schema_bytes(name))
        assert schema["$schema"].startswith("https://json-schema.org/")
        assert schema["title"] == name


def test_every_message_validates_against_its_channel_schema() -> None:
    import json

    import jsonschema

    buf = io.BytesIO()
    write_sample(buf)
    content = parse(buf.getvalue())
    schemas = {s.name: json.loads(s.data) for s in content.schemas.values()}
    channels = {c.topic: schemas[content.schemas[c.schema_id].name] for c in content.channels.values()}
    assert content.messages
    for m in content.messages:
        jsonschema.validate(json.loads(m.data), channels[m.topic])
