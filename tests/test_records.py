"""One record, one shape: the structs in ``jobshadow.records`` drive the wire, the schemas and the lake.

A field added to a record must reach the channel schema and the curated table (or say why not);
these tests fail when one of them disagrees with the struct, and show that adding a field is one
edit (``test_a_new_field_is_one_edit``, the README's worked example).
"""

from __future__ import annotations

import io
import json
from typing import Annotated

import jsonschema
import msgspec
import pyarrow as pa
import pytest

from jobshadow.errors import RecordSpecError, SpoolCorrupt
from jobshadow.lake import curated
from jobshadow.lake.from_records import field_columns, row_of, table_columns
from jobshadow.records import (
    KINDS,
    FocusChange,
    FrameDrop,
    FrameMeta,
    KeyEvent,
    Marker,
    Monitor,
    MouseButton,
    MouseMove,
    Record,
    Rect,
    Redaction,
    Scroll,
    VisibleWindow,
    WindowInfo,
    column,
    is_modifier_keysym,
)
from jobshadow.segment.format import CHANNEL_DEFS, KIND_TOPIC, SCHEMAS, channel_schema
from jobshadow.segment.reader import decode, parse
from jobshadow.segment.writer import SegmentWriter

WINDOW = WindowInfo(42, "xterm", "XTerm", "notes", 7, "xterm", Rect(1, 2, 300, 200), Rect(0, 0, 302, 222),
                    "main", ("focused",))
SAMPLES: list[Record] = [
    KeyEvent(1.0, "key_press", 38, 97, "a", "a", ("shift",), 42),
    KeyEvent(1.1, "key_release", 38, 97, "a", None, ()),
    Redaction(1.2, "email"),
    MouseMove(1.3, 5, 6),
    MouseButton(1.4, "mouse_press", 1, 5, 6, ("ctrl",)),
    Scroll(1.5, 5, 6, 0, 1),
    FocusChange(1.6, WINDOW, carried=True),
    FocusChange(1.7, None),
    FrameMeta(1.8, 3, "change", 1.75, 320, 240, True, (Monitor("m", 0, 0, 320, 240, True),),
              (VisibleWindow(42, "XTerm", Rect(0, 0, 10, 10), True, False),), 12, 4),
    FrameDrop(1.9, "queue_full", 2),
    Marker(2.0, "task_start", {"title": "expenses"}),
]
TABLE_RECORDS = {curated.EVENTS: curated.EVENT_RECORDS, curated.WINDOWS: curated.WINDOW_RECORDS,
                 curated.FRAMES: curated.FRAME_RECORDS, curated.MARKERS: curated.MARKER_RECORDS}


def test_every_kind_has_one_struct_and_one_channel() -> None:
    assert set(KINDS) == set(KIND_TOPIC)
    for kind, struct in KINDS.items():
        assert struct in CHANNEL_DEFS[KIND_TOPIC[kind]].records, kind


@pytest.mark.parametrize("rec", SAMPLES, ids=lambda r: type(r).__name__)
def test_a_record_decodes_into_the_struct_it_was_written_from(rec: Record) -> None:
    topic = KIND_TOPIC[rec.kind]  # type: ignore[attr-defined]
    data = msgspec.json.encode(rec)
    assert decode(topic, data) == rec
    jsonschema.validate(json.loads(data), SCHEMAS[CHANNEL_DEFS[topic].schema])


def test_each_channel_schema_lists_exactly_the_fields_of_its_structs() -> None:
    for ch in CHANNEL_DEFS.values():
        schema = channel_schema(ch.schema)
        bodies = schema["oneOf"] if len(ch.records) > 1 else [schema]
        for struct, body in zip(ch.records, bodies, strict=True):
            assert list(body["properties"]) == list(struct.__struct_fields__), struct.__name__


def test_every_record_field_says_how_it_is_curated_and_its_table_has_it() -> None:
    for table, structs in TABLE_RECORDS.items():
        columns = {c.name: c for c in table.columns}
        for struct in structs:
            for fc in field_columns(struct):
                name = fc.into or fc.column.name
                assert name in columns, (struct.__name__, fc.path, table.name)
                if fc.into is None:
                    have = columns[name]
                    assert (have.type, have.label, have.sealed) == (fc.column.type, fc.column.label, fc.column.sealed)


def test_a_field_without_a_curation_annotation_is_refused() -> None:
    class Bad(Record, frozen=True):
        t: float
        secret: str

    with pytest.raises(RecordSpecError, match=r"Bad\.t does not say"):
        field_columns(Bad)


def test_two_records_may_not_disagree_about_a_column() -> None:
    class Other(Record, frozen=True):
        x: Annotated[int, column("typed_text", sealed=True)]

    with pytest.raises(RecordSpecError, match="column x"):
        table_columns((MouseMove, Other))


def test_columns_already_in_lakes_keep_their_order() -> None:
    """Appends are matched to an existing Iceberg table by position: new columns only ever go last."""
    plain = [c.name for c in curated.FRAMES.plain]
    assert plain.index("shielded_area") == len(plain) - 1  # added after lakes held the others
    with pytest.raises(RecordSpecError, match="no longer written"):
        table_columns((MouseMove,), established=("x", "gone"))


def test_a_new_field_is_one_edit() -> None:
    """The README's worked example: a field on the struct reaches schema, wire, decoder and lake."""

    class Pressure(Record, frozen=True, gc=False):  # as if MouseButton had gained the field
        t: Annotated[float, msgspec.Meta(extra={"lake": {"common": True}})]
        kind: Annotated[str, column("input_events")]
        button: Annotated[int, column("input_events")]
        x: Annotated[int, column("input_events")]
        y: Annotated[int, column("input_events")]
        pressure: Annotated[float | None, column("input_events", doc="pen pressure, 0-1")] = None

    _, defs = msgspec.json.schema_components([Pressure])
    assert defs["Pressure"]["properties"]["pressure"]["description"] == "pen pressure, 0-1"
    cols = {c.name: c for c in table_columns((KeyEvent, Pressure), established=())}
    assert cols["pressure"].type == pa.float64() and cols["pressure"].label == "input_events"
    rec = Pressure(1.0, "mouse_press", 1, 3, 4, 0.5)
    assert msgspec.json.decode(msgspec.json.encode(rec), type=Pressure) == rec
    assert row_of(rec)["pressure"] == 0.5
    # A segment written before the field existed still decodes: the field has a default.
    assert msgspec.json.decode(b'{"t":1.0,"kind":"mouse_press","button":1,"x":3,"y":4}', type=Pressure).pressure is None


# What writers before records became structs put on the wire (``as_json``), message for message.
OLD_BODIES = {
    "/input/keyboard": [
        {"kind": "key_press", "t": 1.0, "keycode": 38, "keysym": 97, "keysym_name": "a", "char": "a",
         "modifiers": [], "window_id": 42},
        {"kind": "redaction", "t": 1.2, "finding": "email"},
    ],
    "/input/mouse": [
        {"kind": "mouse_move", "t": 1.3, "x": 5, "y": 6},
        {"kind": "mouse_press", "t": 1.4, "button": 1, "x": 5, "y": 6, "modifiers": ["ctrl"]},
        {"kind": "scroll", "t": 1.5, "x": 5, "y": 6, "dx": 0, "dy": 1, "modifiers": []},
    ],
    "/window/focus": [
        {"kind": "focus", "t": 1.6, "carried": False, "window": {
            "window_id": 42, "wm_instance": "xterm", "wm_class": "XTerm", "title": "notes", "pid": 7,
            "process": "xterm", "geometry": {"x": 1, "y": 2, "width": 300, "height": 200}, "frame": None,
            "role": "", "states": []}},
    ],
    "/screen/frames": [  # before the echo shield: no shielded_area
        {"kind": "frame", "t": 1.8, "seq": 3, "reason": "change", "grabbed_at": 1.75, "width": 320, "height": 240,
         "keyframe": True, "monitors": [{"name": "m", "x": 0, "y": 0, "width": 320, "height": 240,
                                         "primary": True}],
         "windows": [{"window_id": 42, "wm_class": "XTerm", "outer": {"x": 0, "y": 0, "width": 10, "height": 10},
                      "in_scope": True, "masked": False}], "masked_area": 12},
    ],
    "/recorder/events": [
        {"kind": "frame_drop", "t": 1.9, "reason": "queue_full", "count": 2},
        {"kind": "marker", "t": 2.0, "name": "pause", "detail": {"seconds": None}},
    ],
    "/screen/video": [
        {"timestamp": {"sec": 1, "nsec": 5}, "frame_id": "3", "data": "AAAAAWZha2U=", "format": "h264"},
    ],
}


def test_segments_written_before_the_structs_still_decode() -> None:
    for topic, bodies in OLD_BODIES.items():
        for body in bodies:
            rec = decode(topic, json.dumps(body).encode())
            assert rec is not None, body
            now = json.loads(msgspec.json.encode(rec))
            assert now == {**now, **body}, body  # every old value read back as it was written
    frame = decode("/screen/frames", json.dumps(OLD_BODIES["/screen/frames"][0]).encode())
    assert isinstance(frame, FrameMeta) and frame.shielded_area == 0


def test_a_body_that_does_not_match_its_struct_is_corrupt_and_an_unknown_kind_is_skipped() -> None:
    with pytest.raises(SpoolCorrupt, match="does not match"):
        decode("/input/mouse", b'{"kind":"mouse_move","t":1.0,"x":"five","y":6}')
    assert decode("/input/mouse", b'{"kind":"pen_tilt","t":1.0}') is None  # a newer recorder's kind
    assert decode("/somewhere/else", b"{}") is None


def test_rows_are_the_records_fields_under_their_columns() -> None:
    key = KeyEvent(1.0, "key_press", 38, 97, "a", "a", ("shift",), 42)
    assert row_of(key) == {"t": 1.0, "kind": "key_press", "keycode": 38, "keysym": 97, "keysym_name": "a",
                           "char": "a", "modifiers": ["shift"], "window_id": 42}
    # Typed into an AI assistant: typed content moves to the ai_prompt columns, key codes are not kept.
    assert row_of(key, prompt=True) == {"t": 1.0, "kind": "key_press", "prompt_keysym_name": "a", "prompt_char": "a",
                                        "modifiers": ["shift"], "window_id": 42}
    focus = row_of(FocusChange(2.0, WINDOW))
    assert focus == {"t": 2.0, "window_id": 42, "wm_instance": "xterm", "wm_class": "XTerm", "title": "notes",
                     "process": "xterm", "x": 1, "y": 2, "width": 300, "height": 200}
    assert row_of(FrameDrop(3.0, "queue_full", 2)) == {"t": 3.0, "name": "frame_drop",
                                                       "detail": '{"count": 2, "reason": "queue_full"}'}


def test_a_written_segment_reads_back_as_the_same_records() -> None:
    buf = io.BytesIO()
    w = SegmentWriter(buf, {"segment_id": "s1"})
    events = [r for r in SAMPLES if not isinstance(r, FrameMeta)]
    for rec in events:
        w.write(rec)  # type: ignore[arg-type]
    w.finish({"finished_by": "stop"})
    got = [rec for _, _, rec in parse(buf.getvalue()).records()]
    assert sorted(got, key=lambda r: r.t) == sorted(events, key=lambda r: r.t)  # type: ignore[attr-defined]


def test_the_modifier_vocabulary_is_shared() -> None:
    assert is_modifier_keysym(0xFFE1) and is_modifier_keysym(0xFFE5) and not is_modifier_keysym(ord("a"))
