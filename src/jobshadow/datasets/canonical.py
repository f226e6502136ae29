"""The canonical step as a row, and the same step as pyautogui code (absolute or normalised).

Rows keep pixel coordinates with the full screen geometry beside them, so every export is exact:
normalised coordinates are ``x / width`` and ``y / height`` of the screen the step was recorded
on, rounded to 4 decimals (0.0001 of 1920 px is a fifth of a pixel).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from jobshadow.datasets.model import Step, Task

MODIFIER_NAMES = {"super": "win", "hyper": "win", "altgr": "altright"}
TRACE_POINTS = 64  # the last pointer points before an action kept as its pre-move trace
BUTTON_NAMES = {1: "left", 2: "middle", 3: "right"}


def _norm(v: int | None, size: int) -> float | None:
    return None if v is None or size <= 0 else round(v / size, 4)


def _key(k: str) -> str:
    return MODIFIER_NAMES.get(k, k)


def pyautogui_code(step: Step, *, normalised: bool) -> str:
    """The step as the pyautogui call(s) that would replay it (OSWorld conventions)."""
    a = step.action
    w, h = step.screen

    def xy(x: int | None, y: int | None) -> str:
        if normalised:
            return f"x={_norm(x, w):.4f}, y={_norm(y, h):.4f}"
        return f"x={x}, y={y}"

    if a.type in ("click", "double_click", "triple_click", "right_click", "middle_click"):
        fn = {"click": "click", "double_click": "doubleClick", "triple_click": "tripleClick",
              "right_click": "rightClick", "middle_click": "middleClick"}[a.type]
        button = (f", button={BUTTON_NAMES.get(a.button or 1, 'left')!r}"
                  if a.type in ("double_click", "triple_click") and (a.button or 1) != 1 else "")
        call = f"pyautogui.{fn}({xy(a.x, a.y)}{button})"
        if a.keys:  # ctrl+click and the like: hold the modifiers around the click
            down = "\n".join(f"pyautogui.keyDown({_key(k)!r})" for k in a.keys)
            up = "\n".join(f"pyautogui.keyUp({_key(k)!r})" for k in reversed(a.keys))
            return f"{down}\n{call}\n{up}"
        return call
    if a.type == "drag":
        return (f"pyautogui.moveTo({xy(a.x, a.y)})\n"
                f"pyautogui.dragTo({xy(a.end_x, a.end_y)}, duration={max(a.t_end - a.t_start, 0.0):.2f}, "
                f"button={BUTTON_NAMES.get(a.button or 1, 'left')!r})")
    if a.type == "long_press":
        return (f"pyautogui.moveTo({xy(a.x, a.y)})\npyautogui.mouseDown()\n"
                f"time.sleep({a.t_end - a.t_start:.2f})\npyautogui.mouseUp()")
    if a.type == "scroll":
        parts = []
        if a.dy:
            parts.append(f"pyautogui.scroll({-a.dy}, {xy(a.x, a.y)})")  # pyautogui: positive scrolls up
        if a.dx:
            parts.append(f"pyautogui.hscroll({a.dx}, {xy(a.x, a.y)})")
        return "\n".join(parts)
    if a.type == "write":
        return f"pyautogui.write({a.text!r})"
    if a.type == "press":
        return f"pyautogui.press({_key(a.keys[0])!r})"
    if a.type == "hotkey":
        return "pyautogui.hotkey(" + ", ".join(repr(_key(k)) for k in a.keys) + ")"
    if a.type == "wait":
        return "WAIT"
    if a.type == "terminate":
        return "DONE"
    raise ValueError(f"unknown action type {a.type}")


def describe(step: Step) -> str:
    """A short natural-language description of the action (AgentNet's ``action`` field)."""
    a = step.action
    where = f" at ({a.x}, {a.y})" if a.x is not None else ""
    target = f" in {step.observation.app}" if step.observation.app else ""
    if a.type == "write":
        return f"Type {a.text!r}{target}"
    if a.type == "press":
        return f"Press {a.keys[0]}{target}"
    if a.type == "hotkey":
        return f"Press {'+'.join(a.keys)}{target}"
    if a.type == "scroll":
        return f"Scroll {'down' if a.dy > 0 else 'up' if a.dy < 0 else 'sideways'}{where}{target}"
    if a.type == "drag":
        return f"Drag from ({a.x}, {a.y}) to ({a.end_x}, {a.end_y}){target}"
    if a.type == "wait":
        return f"Wait {a.t_end - a.t_start:.1f} s for the screen to settle"
    if a.type == "terminate":
        return "The task is done"
    return f"{a.type.replace('_', ' ').capitalize()}{where}{target}"


STEP_FIELDS: list[tuple[str, pa.DataType, str]] = [
    ("task_id", pa.string(), "task the step belongs to"),
    ("step", pa.int32(), "position in the task, from 0"),
    ("action_type", pa.string(), "click, double_click, triple_click, right_click, middle_click, drag, long_press, "
                                 "scroll, write, press, hotkey, wait or terminate"),
    ("x", pa.int32(), "pointer x in screen pixels (press point for drags)"),
    ("y", pa.int32(), "pointer y in screen pixels"),
    ("end_x", pa.int32(), "drag end x"),
    ("end_y", pa.int32(), "drag end y"),
    ("button", pa.int32(), "X button (1 left, 2 middle, 3 right)"),
    ("scroll_dx", pa.int32(), "wheel notches, right positive"),
    ("scroll_dy", pa.int32(), "wheel notches, down positive"),
    ("text", pa.string(), "text of a write (secrets removed on the device appear as <redacted:KIND>)"),
    ("keys", pa.list_(pa.string()), "keys of a press or hotkey, modifiers first"),
    ("code", pa.string(), "pyautogui code replaying the step, pixel coordinates"),
    ("code_normalized", pa.string(), "pyautogui code with coordinates normalised to [0, 1], 4 decimals"),
    ("description", pa.string(), "the action in words"),
    ("t_start", pa.float64(), "seconds on the recorder's monotonic clock when the action started"),
    ("t_end", pa.float64(), "… and ended"),
    ("timestamp", pa.string(), "wall-clock start (UTC, ISO 8601)"),
    ("screen_width", pa.int32(), "screen width in pixels"),
    ("screen_height", pa.int32(), "screen height in pixels"),
    ("monitors", pa.string(), "JSON list of monitors"),
    ("app", pa.string(), "application (WM_CLASS) in focus before the action"),
    ("window_title", pa.string(), "its window title"),
    ("url", pa.string(), "page URL when known"),
    ("window_rect", pa.list_(pa.int32()), "focused window x, y, width, height"),
    ("target_rect", pa.list_(pa.int32()), "window under the pointer: x, y, width, height"),
    ("frame_segment", pa.string(), "segment of the observation frame"),
    ("frame_seq", pa.int64(), "frame number within that segment"),
    ("frame_t", pa.float64(), "time the frame is known to show (never after t_start)"),
    ("pre_move_trace", pa.list_(pa.list_(pa.float64())), "pointer path before the action: [seconds before "
                                                       "t_start, x, y]"),
    ("raw_span", pa.string(), "first and last raw events: segment:seq-segment:seq"),
    ("flags", pa.list_(pa.string()), "quality flags (redacted, no_visible_effect, ai_prompt, ...)"),
]


def step_row(task: Task, step: Step) -> dict[str, Any]:
    a, o = step.action, step.observation
    frame = o.frame
    span = f"{a.span[0]}:{a.span[1]}-{a.span[2]}:{a.span[3]}" if a.span else None
    trace = [[round(a.t_start - t, 4), float(x), float(y)] for t, x, y in a.trace[-TRACE_POINTS:]]
    return {
        "task_id": task.task_id, "step": step.index, "action_type": a.type, "x": a.x, "y": a.y,
        "end_x": a.end_x, "end_y": a.end_y, "button": a.button, "scroll_dx": a.dx, "scroll_dy": a.dy,
        "text": a.text, "keys": list(a.keys), "code": pyautogui_code(step, normalised=False),
        "code_normalized": pyautogui_code(step, normalised=True), "description": describe(step),
        "t_start": a.t_start, "t_end": a.t_end,
        "timestamp": datetime.fromtimestamp(a.t_start + task.wall_offset, UTC).isoformat(timespec="milliseconds"),
        "screen_width": step.screen[0], "screen_height": step.screen[1], "monitors": json.dumps(step.monitors),
        "app": o.app, "window_title": o.title, "url": o.url,
        "window_rect": list(o.window_rect) if o.window_rect else None,
        "target_rect": list(o.target_rect) if o.target_rect else None,
        "frame_segment": frame.segment_id if frame else None, "frame_seq": frame.frame_seq if frame else None,
        "frame_t": frame.t if frame else None, "pre_move_trace": trace, "raw_span": span,
        "flags": sorted(step.flags),
    }


def steps_schema(*, image: bool) -> pa.Schema:
    fields = [pa.field(n, t, metadata={"description": d}) for n, t, d in STEP_FIELDS]
    if image:
        fields.append(pa.field("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())]),
                               metadata={"description": "the observation frame (before the action)"}))
    return pa.schema(fields)
