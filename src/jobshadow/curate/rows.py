"""A landed segment as curated rows: the tables and the media stream it becomes (curated zone).

Pure parsing, shared by curation (``lake.curate``) and by the dataset builder reading a
contributor's own local segments; nothing here touches storage or keys.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from jobshadow.lake import curated
from jobshadow.segment.format import (
    TOPIC_FOCUS,
    TOPIC_FRAMES,
    TOPIC_KEYBOARD,
    TOPIC_MOUSE,
    TOPIC_RECORDER,
    TOPIC_VIDEO,
)
from jobshadow.segment.reader import parse

# Windows whose title or application says they are an AI assistant.
AI_ASSISTANT = re.compile(
    r"chatgpt|\bclaude\b|\bgemini\b|\bcopilot\b|perplexity|\bmistral\b|le chat|deepseek|\bgrok\b|"
    r"chat\.openai\.com|claude\.ai|ai studio", re.IGNORECASE)



def is_ai_assistant(window: dict[str, Any] | None) -> bool:
    if not window:
        return False
    text = " ".join(str(window.get(k) or "") for k in ("title", "wm_class", "wm_instance", "process"))
    return bool(AI_ASSISTANT.search(text))


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
    focus: dict[str, Any] | None = None
    frame_meta: dict[int, dict[str, Any]] = {}
    units: list[tuple[int, bytes, float]] = []
    for topic, _ns, body in content.iter_decoded():
        t = float(body.get("t", _ns / 1e9))
        if topic == TOPIC_FOCUS:
            focus = body.get("window")
            w = focus or {}
            g = w.get("geometry") or {}
            windows.append({"t": t, "window_id": w.get("window_id"), "wm_instance": w.get("wm_instance"),
                            "wm_class": w.get("wm_class"), "process": w.get("process"), "x": g.get("x"),
                            "y": g.get("y"), "width": g.get("width"), "height": g.get("height"),
                            "in_scope": focus is not None, "ai_assistant": is_ai_assistant(focus),
                            "title": w.get("title")})
        elif topic == TOPIC_KEYBOARD:
            row: dict[str, Any] = {"t": t, "kind": body["kind"], "modifiers": body.get("modifiers") or [],
                                   "window_id": body.get("window_id")}
            if body["kind"] == "redaction":
                row["finding"] = body.get("finding")
            elif is_ai_assistant(focus):
                row.update(stream="ai_prompt", prompt_keysym_name=body.get("keysym_name"),
                           prompt_char=body.get("char"))
            else:
                row.update(stream="typing", keycode=body.get("keycode"), keysym=body.get("keysym"),
                           keysym_name=body.get("keysym_name"), char=body.get("char"))
            events.append(row)
        elif topic == TOPIC_MOUSE:
            events.append({"t": t, "kind": body["kind"], "x": body.get("x"), "y": body.get("y"),
                           "button": body.get("button"), "dx": body.get("dx"), "dy": body.get("dy"),
                           "modifiers": body.get("modifiers") or []})
        elif topic == TOPIC_FRAMES:
            frame_meta[int(body["seq"])] = body
        elif topic == TOPIC_VIDEO:
            units.append((int(body["frame_id"]), base64.b64decode(body["data"]), t))
        elif topic == TOPIC_RECORDER:
            name = body.get("name") if body.get("kind") == "marker" else "frame_drop"
            detail = body.get("detail") if body.get("kind") == "marker" else {"reason": body.get("reason"),
                                                                               "count": body.get("count")}
            markers.append({"t": t, "name": name, "detail": json.dumps(detail or {}, sort_keys=True)})
    media = bytearray()
    units.sort(key=lambda u: u[0])
    for seq, data, unit_t in units:
        # Every access unit stays in the stream (later frames are decoded from it); one whose
        # metadata is missing (a recovered, truncated segment) is kept as an "orphan" frame.
        m = frame_meta.get(seq) or {"t": unit_t, "reason": "orphan"}
        frames.append({"t": float(m["t"]), "frame_seq": seq, "grabbed_at": m.get("grabbed_at"),
                       "reason": m.get("reason"), "width": m.get("width"),
                       "height": m.get("height"), "keyframe": bool(m.get("keyframe")),
                       "windows": json.dumps(m.get("windows", [])), "masked_area": m.get("masked_area"),
                       "media_offset": len(media), "media_length": len(data)})
        media += data

    def table(defn: curated.TableDef, rows: list[dict[str, Any]]) -> pa.Table:
        rows.sort(key=lambda r: r["t"])
        for i, r in enumerate(rows):
            r.update(subject=subject, segment_id=seg, seq=i, wall_time=_ts(r["t"], offset))
        schema = defn.arrow_schema()
        return pa.Table.from_pylist([{c.name: r.get(c.name) for c in defn.columns} for r in rows], schema=schema)

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
            open_keys[e.get("keycode") if e.get("stream") == "typing" else ("p", e.get("prompt_keysym_name"))] = span
            spans.append(span)
        elif kind == "key_release":
            key = e.get("keycode") if e.get("stream") == "typing" else ("p", e.get("prompt_keysym_name"))
            pressed = open_keys.pop(key, None)
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


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None
