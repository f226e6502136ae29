"""A landed segment as curated rows: the tables and the media stream it becomes (curated zone).

Pure parsing, shared by curation (``jobshadow.curate.stage``) and by the dataset builder reading a
contributor's own local segments; nothing here touches storage or keys. Messages are decoded into
the record structs the device wrote, and each record becomes its row through the annotations on
its fields (``jobshadow.lake.from_records``); what curation adds — the stream a key belongs to,
whether a window is an AI assistant, where each frame's access unit is — is added here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from jobshadow.curate.assistants import is_ai_assistant
from jobshadow.lake import curated
from jobshadow.lake.from_records import has_prompt_fields, row_of
from jobshadow.lake.tabledef import TableDef
from jobshadow.records import CompressedVideo, FocusChange, FrameDrop, FrameMeta, Marker, WindowInfo
from jobshadow.segment.format import TOPIC_FOCUS, TOPIC_FRAMES, TOPIC_KEYBOARD, TOPIC_MOUSE, TOPIC_RECORDER, TOPIC_VIDEO
from jobshadow.segment.reader import parse

_EVENT_TOPICS = (TOPIC_KEYBOARD, TOPIC_MOUSE)


def _ts(t: float, offset: float) -> datetime:
    return datetime.fromtimestamp(t + offset, UTC)


def segment_tables(plaintext: bytes, subject: str, landing: dict[str, Any]) -> tuple[dict[str, pa.Table], bytes]:
    """Curated rows for one segment, and its media stream (H.264 access units in decode order)."""
    content = parse(plaintext, name=landing["segment_id"])
    meta = content.segment_meta
    seg = str(meta.get("segment_id", landing["segment_id"]))
    offset = float(meta.get("wall_offset", 0.0))
    events: list[dict[str, Any]] = []
    windows: list[dict[str, Any]] = []
    frames: list[dict[str, Any]] = []
    markers: list[dict[str, Any]] = []
    focus: WindowInfo | None = None
    frame_meta: dict[int, FrameMeta] = {}
    units: list[tuple[int, bytes, float]] = []
    for topic, ns, rec in content.records():
        if topic == TOPIC_FOCUS and isinstance(rec, FocusChange):
            focus = rec.window
            windows.append({**row_of(rec), "in_scope": focus is not None, "ai_assistant": is_ai_assistant(focus)})
        elif topic in _EVENT_TOPICS:
            if has_prompt_fields(type(rec)):
                # The one decision about AI prompts: keys typed while an assistant had focus.
                prompt = is_ai_assistant(focus)
                events.append({**row_of(rec, prompt=prompt), "stream": "ai_prompt" if prompt else "typing"})
            else:
                events.append(row_of(rec))
        elif topic == TOPIC_FRAMES and isinstance(rec, FrameMeta):
            frame_meta[rec.seq] = rec
        elif topic == TOPIC_VIDEO and isinstance(rec, CompressedVideo):
            units.append((int(rec.frame_id), rec.data, ns / 1e9))
        elif topic == TOPIC_RECORDER and isinstance(rec, Marker | FrameDrop):
            markers.append(row_of(rec))
    media = bytearray()
    units.sort(key=lambda u: u[0])
    for seq, data, unit_t in units:
        # Every access unit stays in the stream (later frames are decoded from it); one whose
        # metadata is missing (a recovered, truncated segment) is kept as an "orphan" frame.
        m = frame_meta.get(seq)
        row = row_of(m) if m is not None else {"t": unit_t, "frame_seq": seq, "reason": "orphan", "keyframe": False,
                                                "windows": "[]"}
        frames.append({**row, "media_offset": len(media), "media_length": len(data)})
        media += data

    def table(defn: TableDef, rows: list[dict[str, Any]]) -> pa.Table:
        rows.sort(key=lambda r: r["t"])
        for i, r in enumerate(rows):
            r.update(subject=subject, segment_id=seg, seq=i, wall_time=_ts(r["t"], offset))
        schema = defn.arrow_schema()
        # A list column (modifiers) of a record that has no such field is empty, not unknown.
        lists = {c.name for c in defn.columns if pa.types.is_list(c.type)}
        return pa.Table.from_pylist([{c.name: r.get(c.name, [] if c.name in lists else None) for c in defn.columns}
                                     for r in rows], schema=schema)

    started = meta.get("started") or landing.get("started_at")
    end_meta = content.metadata.get("jobshadow.segment.end", {})
    purposes = landing.get("purposes")
    segment_row = {
        "subject": subject, "segment_id": seg, "device_id": landing["device_id"],
        "session_id": meta.get("session_id"), "content_hash": landing["content_hash"],
        "started_at": _parse_time(started), "ended_at": _parse_time(end_meta.get("ended") or landing.get("ended_at")),
        "wall_offset": offset, "screen_width": (meta.get("screen") or {}).get("width"),
        "screen_height": (meta.get("screen") or {}).get("height"),
        "monitors": json.dumps(meta.get("monitors", [])), "scope_name": landing.get("scope_name"),
        "scope_version": landing.get("scope_version"),
        "purposes": json.loads(purposes) if isinstance(purposes, str) else (purposes or []),
        "retention_days": landing.get("retention_days"), "curated_at": datetime.now(UTC),
    }
    events_table = table(curated.EVENTS, events)  # assigns each event its seq
    out = {
        curated.EVENTS.name: events_table,
        curated.ACTIONS.name: table(curated.ACTIONS, action_spans(events)),
        curated.WINDOWS.name: table(curated.WINDOWS, windows),
        curated.FRAMES.name: table(curated.FRAMES, frames),
        curated.MARKERS.name: table(curated.MARKERS, markers),
        curated.SEGMENTS.name: pa.Table.from_pylist([segment_row], schema=curated.SEGMENTS.arrow_schema()),
    }
    return out, bytes(media)


def action_spans(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Raw action spans from ordered events: key and button presses paired with their releases
    (by keycode, by button), each scroll notch on its own. Nothing typed is copied here."""
    spans: list[dict[str, Any]] = []
    open_keys: dict[Any, dict[str, Any]] = {}
    open_buttons: dict[Any, dict[str, Any]] = {}
    pointer: tuple[Any, Any] = (None, None)
    for e in events:
        kind = e["kind"]
        if kind in ("mouse_move", "mouse_press", "mouse_release", "scroll") and e.get("x") is not None:
            pointer = (e.get("x"), e.get("y"))
        if kind == "key_press":
            span = {"t": e["t"], "kind": "key", "t_end": None, "start_seq": e["seq"], "end_seq": None,
                    "window_id": e.get("window_id"), "stream": e.get("stream"), "x": pointer[0], "y": pointer[1]}
            open_keys[_key_of(e)] = span
            spans.append(span)
        elif kind == "key_release":
            pressed = open_keys.pop(_key_of(e), None)
            if pressed is not None:
                pressed.update(t_end=e["t"], end_seq=e["seq"])
        elif kind == "mouse_press":
            span = {"t": e["t"], "kind": "button", "t_end": None, "start_seq": e["seq"], "end_seq": None,
                    "button": e.get("button"), "x": e.get("x"), "y": e.get("y")}
            open_buttons[e.get("button")] = span
            spans.append(span)
        elif kind == "mouse_release":
            held = open_buttons.pop(e.get("button"), None)
            if held is not None:
                held.update(t_end=e["t"], end_seq=e["seq"], end_x=e.get("x"), end_y=e.get("y"))
        elif kind == "scroll":
            spans.append({"t": e["t"], "kind": "scroll", "t_end": e["t"], "start_seq": e["seq"],
                          "end_seq": e["seq"], "x": e.get("x"), "y": e.get("y"), "dx": e.get("dx"),
                          "dy": e.get("dy")})
    return spans


def _key_of(event: dict[str, Any]) -> Any:
    """What pairs a key press with its release: the keycode, or for a prompt key its keysym name."""
    return event.get("keycode") if event.get("stream") == "typing" else ("p", event.get("prompt_keysym_name"))


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None
