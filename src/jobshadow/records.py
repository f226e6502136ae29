"""Shared records: the one typed shape of everything that flows between stages (every trust zone).

Every record that crosses a boundary is a frozen msgspec struct defined here, once. It carries its
``kind`` as an ordinary field (a key press and a key release share one struct), so a record is
self-describing on the wire. The device encodes these structs into segment channels, the server
decodes segment messages back into the very same types (``jobshadow.segment.reader.decode``), and
everything else is generated from the definitions below:

* the JSON Schema of each MCAP channel (``jobshadow.segment.format``);
* the columns of the curated lake tables and their classification labels
  (``jobshadow.lake.curated``), from the ``column``/``not_curated`` annotation each field carries;
* the rows curation writes and the column lists the dataset builder reads.

So a new field is added by adding it here, with a default (old segments do not have it) and an
annotation saying how it is curated; tests fail if a field has no such annotation, or if a
channel schema or a curated table disagrees with the struct. ``t`` is always seconds on the
recorder's monotonic clock (``time.monotonic``); the segment's clock metadata gives the offset to
wall time. The wire shape is versioned by ``SCHEMA_VERSION`` and changes only by adding optional
fields, so every segment ever written still decodes.

Raw records (straight from capture) and ``Protected`` records (passed the device privacy filters)
are different types: the spool accepts only ``Protected``, so nothing can skip ``protect``. The
modifier vocabulary (which keysyms are modifiers, which modifiers make a key a shortcut) lives
here too, because the device filters and the dataset builder must agree on it.

This module imports nothing from jobshadow and nothing heavier than msgspec: it is loaded by the
always-on recorder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar

import msgspec
from msgspec import Meta

SCHEMA_VERSION = 1

KeyKind = Literal["key_press", "key_release"]
ButtonKind = Literal["mouse_press", "mouse_release"]
FrameReason = Literal["start", "change", "before_action", "after_action", "final"]
DropReason = Literal["queue_full", "shutdown", "filter_error", "encoder_error", "grab_error", "input_queue_full"]
MarkerName = Literal["recording_start", "recording_stop", "pause", "resume", "task_start", "task_end", "scope"]


# --- how a field reaches the lake --------------------------------------------------------------------
def column(label: str, *, sealed: bool = False, arrow: str | None = None, name: str | None = None,
           prompt: str | None = None, flatten: bool = False, doc: str = "") -> Meta:
    """Curate this field as a lake column with one classification label.

    ``arrow``: the column type when the Python type does not say it (``int64``; ``json`` stores a
    nested value as a JSON string); ``name``: the column's name when it is not the field's;
    ``sealed``: the value is sealed per person and never stored in the warehouse in clear;
    ``prompt``: typed content that, typed into an AI assistant, is stored instead in the column of
    that name under the ``ai_prompt`` label (without it, the field is not kept for such keys);
    ``flatten``: a nested struct becomes one column per field of it. ``doc`` is the column's and
    the JSON Schema's description.
    """
    spec = {"label": label, "sealed": sealed, "arrow": arrow, "name": name, "prompt": prompt, "flatten": flatten}
    return Meta(extra={"lake": spec}, description=doc) if doc else Meta(extra={"lake": spec})


def not_curated(why: str) -> Meta:
    """This field stays on the wire (segments, exports) but is deliberately not a lake column."""
    return Meta(extra={"lake": None, "why": why})


def into(column_name: str) -> Meta:
    """Curate this field as a key of the JSON column ``column_name`` of the record's row."""
    return Meta(extra={"lake": {"into": column_name}})


def common(doc: str) -> Meta:
    """A column every curated table has (``t``); the table definition owns it."""
    return Meta(extra={"lake": {"common": True}}, description=doc)


Time = Annotated[float, common("seconds on the recorder's monotonic clock")]
Pixel = Annotated[int, column("input_events")]
Modifiers = Annotated[tuple[str, ...], column("input_events", doc="modifiers held: shift, ctrl, alt, super, …")]
WindowId = Annotated[int | None, column("device_meta", arrow="int64", doc="the client window the event went to")]
NotAColumn = Annotated[str, not_curated("the table a record goes to says what it is")]


class Record(msgspec.Struct, frozen=True, gc=False):
    """Base of the records: frozen, slotted, positional like a dataclass, untracked by the GC."""


class Rect(Record, frozen=True, gc=False):
    x: int
    y: int
    width: int
    height: int

    def contains(self, px: int, py: int) -> bool:
        return self.x <= px < self.x + self.width and self.y <= py < self.y + self.height


class KeyEvent(Record, frozen=True, gc=False):
    t: Time
    kind: Annotated[KeyKind, column("input_events")]
    keycode: Annotated[int, column("typed_text", sealed=True)]
    keysym: Annotated[int, column("typed_text", sealed=True, arrow="int64")]
    keysym_name: Annotated[str, column("typed_text", sealed=True, prompt="prompt_keysym_name")]
    char: Annotated[str | None, column("typed_text", sealed=True, prompt="prompt_char",
                                       doc="the character produced, or null")]
    modifiers: Modifiers
    window_id: WindowId = None


class MouseMove(Record, frozen=True, gc=False):
    t: Time
    x: Pixel
    y: Pixel
    kind: Annotated[Literal["mouse_move"], column("input_events")] = "mouse_move"


class MouseButton(Record, frozen=True, gc=False):
    t: Time
    kind: Annotated[ButtonKind, column("input_events")]
    button: Annotated[int, column("input_events")]
    x: Pixel
    y: Pixel
    modifiers: Modifiers = ()


class Scroll(Record, frozen=True, gc=False):
    """One wheel notch (X buttons 4-7); dy > 0 scrolls down, dx > 0 scrolls right."""

    t: Time
    x: Pixel
    y: Pixel
    dx: Annotated[int, column("input_events")]
    dy: Annotated[int, column("input_events")]
    modifiers: Modifiers = ()
    kind: Annotated[Literal["scroll"], column("input_events")] = "scroll"


class Redaction(Record, frozen=True, gc=False):
    """Stands where typed keys were removed because they formed a secret or PII.

    It records the kind of finding and nothing of the content (not even its length).
    """

    t: Time
    finding: Annotated[str, column("input_events", doc="kind of secret a redaction marker stands for")]
    kind: Annotated[Literal["redaction"], column("input_events")] = "redaction"


class WindowInfo(Record, frozen=True, gc=False):
    """A top-level (client) window as the window manager shows it."""

    window_id: Annotated[int, column("device_meta", arrow="int64")]
    wm_instance: Annotated[str, column("device_meta")]
    wm_class: Annotated[str, column("device_meta")]
    title: Annotated[str, column("window_title", sealed=True)]
    pid: Annotated[int | None, not_curated("a process id means nothing off the device")]
    process: Annotated[str | None, column("device_meta")]
    geometry: Annotated[Rect, column("device_meta", flatten=True)]
    # Decorations drawn around the client (title bar, borders), absolute coordinates.
    frame: Annotated[Rect | None, not_curated("the client geometry is what datasets use")] = None
    role: Annotated[str, not_curated("used on the device to recognise dialogs")] = ""
    states: Annotated[tuple[str, ...], not_curated("used on the device to recognise dialogs")] = ()

    @property
    def outer(self) -> Rect:
        return self.frame or self.geometry


class FocusChange(Record, frozen=True, gc=False):
    """The active window changed. ``window`` is None when nothing in scope has focus.

    ``carried`` marks the copy written at the start of each segment so a segment is
    self-contained; it is not a change.
    """

    t: Time
    window: Annotated[WindowInfo | None, column("device_meta", flatten=True)]
    carried: Annotated[bool, not_curated("every segment's first focus row is its window"),
                       Meta(description="repeated at segment start; not a change")] = False
    kind: Annotated[Literal["focus"], not_curated("every curated.windows row is a focus change")] = "focus"


class Monitor(Record, frozen=True, gc=False):
    name: str
    x: int
    y: int
    width: int
    height: int
    primary: bool

    @property
    def rect(self) -> Rect:
        return Rect(self.x, self.y, self.width, self.height)


class VisibleWindow(Record, frozen=True, gc=False):
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


class FrameMeta(Record, frozen=True, gc=False):
    """Describes one encoded screen frame (the pixels travel on the video channel)."""

    t: Time
    seq: Annotated[int, column("device_meta", arrow="int64", name="frame_seq")]
    reason: Annotated[FrameReason, column("device_meta")]
    grabbed_at: Annotated[float, column(
        "device_meta", doc="when the pixels were grabbed (t is the time the frame is known to show: for a "
                           "before-action frame, the latest moment it was still current)")]
    width: Annotated[int, column("device_meta")]
    height: Annotated[int, column("device_meta")]
    keyframe: Annotated[bool, column("device_meta")]
    monitors: Annotated[tuple[Monitor, ...], not_curated("the segment row holds the monitors")]
    windows: Annotated[tuple[VisibleWindow, ...], column("device_meta", arrow="json",
                                                         doc="JSON stacking: ids, classes, rectangles, masked")]
    masked_area: Annotated[int, column("device_meta", arrow="int64")] = 0
    # Pixels the echo shield filled where typed secrets (or keys that may be one) were shown.
    shielded_area: Annotated[int, column("device_meta", arrow="int64",
                                         doc="pixels the device's echo shield filled")] = 0
    kind: Annotated[Literal["frame"], not_curated("every curated.frames row is a frame")] = "frame"


class FrameDrop(Record, frozen=True, gc=False):
    t: Time
    reason: Annotated[DropReason, into("detail")]
    count: Annotated[int, into("detail")] = 1
    kind: Annotated[Literal["frame_drop"], column("device_meta", name="name")] = "frame_drop"


class Marker(Record, frozen=True, gc=False):
    """Recorder lifecycle and contributor markers (pause, resume, task start/end)."""

    t: Time
    name: Annotated[MarkerName, column("device_meta")]
    detail: Annotated[dict[str, Any], column("typed_text", sealed=True, arrow="json",
                                             doc="JSON; task titles are typed text")] = msgspec.field(
        default_factory=dict)
    kind: Annotated[Literal["marker"], not_curated("curated.markers holds markers and drops by name")] = "marker"


class CompressedVideo(Record, frozen=True, gc=False):
    """One H.264 access unit as Foxglove's ``foxglove.CompressedVideo`` (bytes travel as base64)."""

    timestamp: VideoTime
    frame_id: str
    data: bytes
    format: str


class VideoTime(Record, frozen=True, gc=False):
    sec: Annotated[int, Meta(ge=0)]
    nsec: Annotated[int, Meta(ge=0)]


InputRecord = KeyEvent | MouseMove | MouseButton | Scroll
EventRecord = KeyEvent | MouseMove | MouseButton | Scroll | Redaction | FocusChange | FrameDrop | Marker

# kind -> the one struct that carries it (a struct may carry several kinds: key press and release).
KINDS: dict[str, type[Record]] = {
    "key_press": KeyEvent, "key_release": KeyEvent, "redaction": Redaction, "mouse_move": MouseMove,
    "mouse_press": MouseButton, "mouse_release": MouseButton, "scroll": Scroll, "focus": FocusChange,
    "frame": FrameMeta, "frame_drop": FrameDrop, "marker": Marker,
}
INPUT_KINDS = ("key_press", "key_release", "mouse_move", "mouse_press", "mouse_release", "scroll")

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Protected(Generic[R]):
    """A record that has passed the device privacy filters; the only thing the spool accepts."""

    record: R


@dataclass(frozen=True, slots=True)
class ScreenImage:
    """A screen image ready for encoding: every pixel outside the capture scope already filled.

    ``image`` is a BGRA video frame (kept as ``Any`` so this module stays import-light).
    """

    meta: FrameMeta
    image: Any


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """An H.264 access unit plus its metadata, after masking and encoding."""

    meta: FrameMeta
    data: bytes


def wire(rec: Record) -> dict[str, Any]:
    """The wire form of a record as plain JSON values (what a segment channel holds)."""
    out: dict[str, Any] = msgspec.to_builtins(rec)
    return out


# --- the modifier vocabulary ---------------------------------------------------------------------------
# Keysym values (X11 keysymdef.h; the same numbers on every platform jobshadow records) of the keys
# that modify others, with the name each contributes to ``modifiers``.
MODIFIER_KEYSYMS: dict[int, str] = {
    0xFFE1: "shift", 0xFFE2: "shift", 0xFFE3: "ctrl", 0xFFE4: "ctrl", 0xFFE7: "alt", 0xFFE8: "alt",
    0xFFE9: "alt", 0xFFEA: "alt", 0xFFEB: "super", 0xFFEC: "super", 0xFFED: "hyper", 0xFFEE: "hyper",
    0xFE03: "altgr", 0xFF7E: "mode_switch", 0xFE11: "level5",
}
# Lock keys: modifiers too (they change what keys type) but held by toggling, not pressing.
LOCK_KEYSYMS = frozenset({0xFFE5, 0xFFE6, 0xFF7F})  # Caps_Lock, Shift_Lock, Num_Lock
# With any of these held, a key is a shortcut, not typing: it produces no text.
SHORTCUT_MODIFIERS = frozenset({"ctrl", "alt", "super", "hyper"})


def is_modifier_keysym(keysym: int) -> bool:
    """True for a key that only modifies others (shift, ctrl, …, and the lock keys)."""
    return keysym in MODIFIER_KEYSYMS or keysym in LOCK_KEYSYMS
