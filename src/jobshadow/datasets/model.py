"""The dataset builder's records: what goes in (events, focus, frames) and what comes out (steps, tasks).

Curated zone / contributor's device. Everything is in pixel space with the full screen geometry
carried alongside, so every export (absolute pixels, normalised coordinates, code strings) is
computed exactly from the same canonical step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Action types of the canonical step (DESIGN.md): what an agent can do.
ACTION_TYPES = ("click", "double_click", "triple_click", "right_click", "middle_click", "drag", "long_press",
                "scroll", "write", "press", "hotkey", "wait", "terminate")


@dataclass(frozen=True, slots=True)
class InputEvent:
    """One recorded input event (as the recorder wrote it, typed text already redacted on the device)."""

    t: float
    kind: str  # key_press, key_release, mouse_move, mouse_press, mouse_release, scroll, redaction
    seq: int
    segment_id: str
    x: int | None = None
    y: int | None = None
    button: int | None = None
    dx: int | None = None
    dy: int | None = None
    keysym_name: str | None = None
    char: str | None = None
    modifiers: tuple[str, ...] = ()
    window_id: int | None = None
    finding: str | None = None
    stream: str | None = None  # typing or ai_prompt


@dataclass(frozen=True, slots=True)
class Focus:
    """The window in focus from ``t`` on (``app`` None: nothing in scope had focus)."""

    t: float
    app: str | None
    title: str | None
    window_id: int | None = None
    rect: tuple[int, int, int, int] | None = None  # x, y, width, height
    url: str | None = None
    ai_assistant: bool = False


@dataclass(frozen=True, slots=True)
class FrameRef:
    """One recorded screen frame: when its pixels were grabbed and where they are."""

    t: float
    segment_id: str
    frame_seq: int
    width: int
    height: int
    reason: str = ""
    windows: tuple[dict[str, Any], ...] = ()  # visible top-level windows at the grab, top first


@dataclass(frozen=True, slots=True)
class MarkerEvent:
    t: float
    name: str  # task_start, task_end, pause, resume, recording_start, ...
    title: str | None = None


@dataclass
class SegmentData:
    """One segment's worth of input for the builder; ``units`` loads its H.264 access units lazily."""

    segment_id: str
    session_id: str
    index: int
    wall_offset: float
    screen: tuple[int, int]
    monitors: list[dict[str, Any]]
    events: list[InputEvent]
    focus: list[Focus]
    frames: list[FrameRef]
    markers: list[MarkerEvent]
    units: Callable[[], list[tuple[int, bytes]]]  # (frame_seq, access unit) in decode order


@dataclass
class Action:
    type: str
    t_start: float
    t_end: float
    x: int | None = None
    y: int | None = None
    end_x: int | None = None
    end_y: int | None = None
    button: int | None = None
    dx: int = 0  # scroll notches (right positive)
    dy: int = 0  # scroll notches (down positive)
    text: str | None = None
    keys: tuple[str, ...] = ()
    trace: list[tuple[float, int, int]] = field(default_factory=list)  # pointer path before the action
    span: tuple[str, int, str, int] | None = None  # (segment, first seq, segment, last seq) of raw events
    window_id: int | None = None
    flags: set[str] = field(default_factory=set)


@dataclass
class Observation:
    frame: FrameRef | None
    app: str | None
    title: str | None
    url: str | None
    window_rect: tuple[int, int, int, int] | None
    target_rect: tuple[int, int, int, int] | None  # the window under the pointer, when known


@dataclass
class Step:
    task_id: str
    index: int
    action: Action
    observation: Observation
    screen: tuple[int, int]
    monitors: list[dict[str, Any]]
    after_frame: FrameRef | None = None
    image: bytes | None = None  # PNG of the observation frame, filled by the frame stage
    flags: set[str] = field(default_factory=set)


@dataclass
class Task:
    task_id: str
    title: str | None
    source: str  # marker or auto
    session_id: str
    t_start: float
    t_end: float
    apps: list[str]
    segments: list[str]
    steps: list[Step] = field(default_factory=list)
    wall_offset: float = 0.0

    @property
    def duration(self) -> float:
        return max(0.0, self.t_end - self.t_start)
