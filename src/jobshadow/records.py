"""Shared records: the typed shapes that flow between stages (every trust zone).

Records are frozen, slotted dataclasses; a stage returns new records and never edits the ones it
receives. ``t`` is always seconds on the recorder's monotonic clock (``time.monotonic``); the
segment's clock metadata gives the offset to wall time. ``as_json`` gives the wire form written
to segment channels and exports; its shape is versioned by ``SCHEMA_VERSION`` and described by the
JSON schemas in ``jobshadow.segment.format``.

Raw records (straight from capture) and ``Protected`` records (passed the device privacy filters)
are different types: the spool accepts only ``Protected``, so nothing can skip ``protect``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Generic, Literal, TypeVar

SCHEMA_VERSION = 1

KeyKind = Literal["key_press", "key_release"]
ButtonKind = Literal["mouse_press", "mouse_release"]


@dataclass(frozen=True, slots=True)
class Rect:
    x: int
    y: int
    width: int
    height: int

    def contains(self, px: int, py: int) -> bool:
        return self.x <= px < self.x + self.width and self.y <= py < self.y + self.height

    def as_json(self) -> dict[str, int]:
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height}


@dataclass(frozen=True, slots=True)
class KeyEvent:
    t: float
    kind: KeyKind
    keycode: int
    keysym: int
    keysym_name: str
    char: str | None
    modifiers: tuple[str, ...]
    window_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "t": self.t,
            "keycode": self.keycode,
            "keysym": self.keysym,
            "keysym_name": self.keysym_name,
            "char": self.char,
            "modifiers": list(self.modifiers),
            "window_id": self.window_id,
        }


@dataclass(frozen=True, slots=True)
class MouseMove:
    t: float
    x: int
    y: int
    kind: Literal["mouse_move"] = "mouse_move"

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "t": self.t, "x": self.x, "y": self.y}


@dataclass(frozen=True, slots=True)
class MouseButton:
    t: float
    kind: ButtonKind
    button: int
    x: int
    y: int
    modifiers: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "t": self.t,
            "button": self.button,
            "x": self.x,
            "y": self.y,
            "modifiers": list(self.modifiers),
        }


@dataclass(frozen=True, slots=True)
class Scroll:
    """One wheel notch (X buttons 4-7); dy > 0 scrolls down, dx > 0 scrolls right."""

    t: float
    x: int
    y: int
    dx: int
    dy: int
    modifiers: tuple[str, ...] = ()
    kind: Literal["scroll"] = "scroll"

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "t": self.t,
            "x": self.x,
            "y": self.y,
            "dx": self.dx,
            "dy": self.dy,
            "modifiers": list(self.modifiers),
        }


@dataclass(frozen=True, slots=True)
class Redaction:
    """Stands where typed keys were removed because they formed a secret or PII.

    It records the kind of finding and nothing of the content (not even its length).
    """

    t: float
    finding: str
    kind: Literal["redaction"] = "redaction"

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "t": self.t, "finding": self.finding}


@dataclass(frozen=True, slots=True)
class WindowInfo:
    """A top-level (client) window as the window manager shows it."""

    window_id: int
    wm_instance: str
    wm_class: str
    title: str
    pid: int | None
    process: str | None
    geometry: Rect
    # Decorations drawn around the client (title bar, borders), absolute coordinates.
    frame: Rect | None = None
    role: str = ""
    states: tuple[str, ...] = ()

    @property
    def outer(self) -> Rect:
        return self.frame or self.geometry

    def as_json(self) -> dict[str, Any]:
        return {
            "window_id": self.window_id,
            "wm_instance": self.wm_instance,
            "wm_class": self.wm_class,
            "title": self.title,
            "pid": self.pid,
            "process": self.process,
            "geometry": self.geometry.as_json(),
            "frame": self.frame.as_json() if self.frame else None,
            "role": self.role,
            "states": list(self.states),
        }


@dataclass(frozen=True, slots=True)
class FocusChange:
    """The active window changed. ``window`` is None when nothing in scope has focus.

    ``carried`` marks the copy written at the start of each segment so a segment is
    self-contained; it is not a change.
    """

    t: float
    window: WindowInfo | None
    carried: bool = False
    kind: Literal["focus"] = "focus"

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "t": self.t,
            "window": self.window.as_json() if self.window else None,
            "carried": self.carried,
        }


@dataclass(frozen=True, slots=True)
class Monitor:
    name: str
    rect: Rect
    primary: bool

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, **self.rect.as_json(), "primary": self.primary}


@dataclass(frozen=True, slots=True)
class VisibleWindow:
    """One entry of the stacking snapshot taken with a frame (bottom to top order).

    Only in-scope windows are named: an out-of-scope window keeps just the rectangle its mask
    needs (``window_id`` 0, empty ``wm_class``), so no frame says which other applications were
    open or where.
    """

    window_id: int
    wm_class: str
    outer: Rect
    in_scope: bool
    masked: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "window_id": self.window_id,
            "wm_class": self.wm_class,
            "outer": self.outer.as_json(),
            "in_scope": self.in_scope,
            "masked": self.masked,
        }


@dataclass(frozen=True, slots=True)
class FrameMeta:
    """Describes one encoded screen frame (the pixels travel on the video channel)."""

    t: float
    seq: int
    reason: Literal["start", "change", "before_action", "after_action", "final"]
    grabbed_at: float
    width: int
    height: int
    keyframe: bool
    monitors: tuple[Monitor, ...]
    windows: tuple[VisibleWindow, ...]
    masked_area: int = 0
    # Pixels the echo shield filled where typed secrets (or keys that may be one) were shown.
    shielded_area: int = 0
    kind: Literal["frame"] = "frame"

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "t": self.t,
            "seq": self.seq,
            "reason": self.reason,
            "grabbed_at": self.grabbed_at,
            "width": self.width,
            "height": self.height,
            "keyframe": self.keyframe,
            "monitors": [m.as_json() for m in self.monitors],
            "windows": [w.as_json() for w in self.windows],
            "masked_area": self.masked_area,
            "shielded_area": self.shielded_area,
        }


DropReason = Literal["queue_full", "shutdown", "filter_error", "encoder_error", "grab_error", "input_queue_full"]


@dataclass(frozen=True, slots=True)
class FrameDrop:
    t: float
    reason: DropReason
    count: int = 1
    kind: Literal["frame_drop"] = "frame_drop"

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "t": self.t, "reason": self.reason, "count": self.count}


@dataclass(frozen=True, slots=True)
class Marker:
    """Recorder lifecycle and contributor markers (pause, resume, task start/end)."""

    t: float
    name: Literal["recording_start", "recording_stop", "pause", "resume", "task_start", "task_end", "scope"]
    detail: dict[str, Any] = field(default_factory=dict)
    kind: Literal["marker"] = "marker"

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "t": self.t, "name": self.name, "detail": dict(self.detail)}


InputRecord = KeyEvent | MouseMove | MouseButton | Scroll
EventRecord = KeyEvent | MouseMove | MouseButton | Scroll | Redaction | FocusChange | FrameDrop | Marker

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Protected(Generic[R]):
    """A record that has passed the device privacy filters; the only thing the spool accepts."""

    record: R


@dataclass(frozen=True, slots=True)
class ScreenImage:
    """A screen image ready for encoding: every pixel outside the capture scope already filled.

    ``image`` is a BGRA numpy array (kept as ``Any`` so this module stays import-light).
    """

    meta: FrameMeta
    image: Any


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """An H.264 access unit plus its metadata, after masking and encoding."""

    meta: FrameMeta
    data: bytes


def record_dict(rec: Any) -> dict[str, Any]:
    """Wire form of any record (records define ``as_json``; dataclasses fall back to asdict)."""
    if hasattr(rec, "as_json"):
        out: dict[str, Any] = rec.as_json()
        return out
    return asdict(rec)
