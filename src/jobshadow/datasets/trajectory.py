"""One session of segments → tasks of steps, each step an action with the observation before it.

Curated zone / contributor's device. Steps:

1. the session's events, focus changes, frames and markers are put on one timeline (segments in
   order; events in recorded order);
2. ``reduce`` turns events into actions;
3. tasks come from the contributor's markers (``jobshadow task start/end``); stretches outside
   any marked task are split on idle gaps of ``idle_gap_s`` and on switches to another
   application that stays in focus at least ``app_switch_min_s``;
4. within a task, a **wait** is inserted where nothing was done for at least ``wait_gap_s``
   while the screen changed (the agent must learn to wait for a page to load);
5. each action gets its observation: the last frame stamped at or before the action starts
   (never one from after it — the recorder stamps a before-action frame with the last moment it
   is known to be current), the window, application and title in focus then, and the window
   under the pointer (the target's geometry as far as it is known); every task ends with a
   **terminate** step whose observation is the final frame after its last action.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from jobshadow.datasets.model import Action, FrameRef, MarkerEvent, Observation, SegmentData, Step, Task
from jobshadow.datasets.reduce import ReductionStats, Thresholds, reduce_events


@dataclass(frozen=True)
class TaskThresholds:
    idle_gap_s: float = 60.0
    app_switch_min_s: float = 30.0
    wait_gap_s: float = 3.0


@dataclass
class SessionResult:
    tasks: list[Task]
    stats: ReductionStats
    counts: Counter[str] = field(default_factory=Counter)


class Timeline:
    """The session's frames and focus changes, searchable by time."""

    def __init__(self, segments: list[SegmentData]) -> None:
        self.frames: list[FrameRef] = sorted((f for s in segments for f in s.frames),
                                             key=lambda f: (f.t, f.segment_id, f.frame_seq))
        self._frame_t = [f.t for f in self.frames]
        self.focus = sorted((c for s in segments for c in s.focus), key=lambda c: c.t)
        self._focus_t = [c.t for c in self.focus]

    def frame_at_or_before(self, t: float) -> FrameRef | None:
        i = bisect.bisect_right(self._frame_t, t)
        return self.frames[i - 1] if i else None

    def frame_after(self, t: float, until: float | None = None) -> FrameRef | None:
        i = bisect.bisect_right(self._frame_t, t)
        if i < len(self.frames) and (until is None or self.frames[i].t <= until):
            return self.frames[i]
        return None

    def last_frame_until(self, t: float) -> FrameRef | None:
        return self.frame_at_or_before(t)

    def frames_between(self, a: float, b: float) -> int:
        return bisect.bisect_left(self._frame_t, b) - bisect.bisect_right(self._frame_t, a)

    def focus_at(self, t: float) -> int:
        """Index of the focus change in effect at ``t`` (-1: none yet)."""
        return bisect.bisect_right(self._focus_t, t) - 1


def _target(frame: FrameRef | None, x: int | None, y: int | None) -> tuple[int, int, int, int] | None:
    if frame is None or x is None or y is None:
        return None
    for w in reversed(frame.windows):  # bottom-to-top order: the last one containing the point is on top
        r = w.get("outer") or {}
        if r and r["x"] <= x < r["x"] + r["width"] and r["y"] <= y < r["y"] + r["height"]:
            return (r["x"], r["y"], r["width"], r["height"])
    return None


def build_session(segments: list[SegmentData], thresholds: Thresholds | None = None,
                  task_thresholds: TaskThresholds | None = None) -> SessionResult:
    segments = sorted(segments, key=lambda s: (s.session_id, s.index, s.segment_id))
    th = task_thresholds or TaskThresholds()
    events = [e for s in segments for e in sorted(s.events, key=lambda e: e.seq)]
    timeline = Timeline(segments)
    actions, stats = reduce_events(events, timeline.focus, thresholds)
    markers = sorted((m for s in segments for m in s.markers), key=lambda m: m.t)
    session = segments[0].session_id if segments else ""
    screen = segments[0].screen if segments else (0, 0)
    monitors = segments[0].monitors if segments else []
    offset = segments[0].wall_offset if segments else 0.0
    result = SessionResult([], stats)
    splits = [(title, source, split) for title, source, split in _split_tasks(actions, markers, timeline, th) if split]
    for n, (title, source, split) in enumerate(splits):
        # Nothing of a task may come from after the next task has started.
        next_start = splits[n + 1][2][0].t_start if n + 1 < len(splits) else float("inf")
        group = _with_waits(split, timeline, th)  # waits never cross a task boundary
        first = group[0]
        task_id = hashlib.sha256(f"{session}:{first.span}:{first.t_start:.6f}".encode()).hexdigest()[:16]
        task = Task(task_id, title, source, session, first.t_start, group[-1].t_end, [], [], wall_offset=offset)
        apps: list[str] = []
        for i, action in enumerate(group):
            until = group[i + 1].t_start if i + 1 < len(group) else next_start
            step = _observe(task_id, i, action, timeline, screen, monitors, until=until)
            task.steps.append(step)
            if step.observation.app and step.observation.app not in apps:
                apps.append(step.observation.app)
        final = timeline.last_frame_until(_task_end(group, markers, next_start))
        end_action = Action("terminate", group[-1].t_end, group[-1].t_end)
        terminate = _observe(task_id, len(group), end_action, timeline, screen, monitors, frame=final)
        if final is None or final.t < group[-1].t_end:
            terminate.flags.add("no_final_frame")  # nothing was grabbed after the last action
        task.steps.append(terminate)
        task.apps = apps
        task.segments = sorted({s.action.span[0] for s in task.steps if s.action.span}
                               | {s.action.span[2] for s in task.steps if s.action.span})
        result.tasks.append(task)
        result.counts["steps"] += len(task.steps)
    return result


def _task_end(group: list[Action], markers: list[MarkerEvent], next_start: float) -> float:
    """Until when a task's final frame may be taken: its own end marker, else just before the next
    task's first action (the screen as the task left it), else the end of the recording."""
    last = group[-1].t_end
    for m in markers:
        if m.name == "task_end" and last <= m.t < next_start:
            return float(m.t)
        if m.t >= next_start:
            break
    return next_start - 1e-6 if next_start != float("inf") else float("inf")


def _with_waits(actions: list[Action], timeline: Timeline, th: TaskThresholds) -> list[Action]:
    out: list[Action] = []
    for a, b in itertools.pairwise(actions):
        out.append(a)
        gap = b.t_start - a.t_end
        if th.wait_gap_s <= gap < th.idle_gap_s and timeline.frames_between(a.t_end, b.t_start) > 0:
            out.append(Action("wait", a.t_end, b.t_start))
    if actions:
        out.append(actions[-1])
    return out


def _split_tasks(actions: list[Action], markers: list[MarkerEvent], timeline: Timeline,
                 th: TaskThresholds) -> list[tuple[str | None, str, list[Action]]]:
    intervals: list[tuple[float, float, str | None]] = []
    open_start: tuple[float, str | None] | None = None
    for m in markers:
        if m.name == "task_start":
            if open_start is not None:
                intervals.append((open_start[0], m.t, open_start[1]))
            open_start = (m.t, m.title)
        elif m.name == "task_end" and open_start is not None:
            intervals.append((open_start[0], m.t, open_start[1]))
            open_start = None
    if open_start is not None:
        intervals.append((open_start[0], float("inf"), open_start[1]))
    groups: list[tuple[str | None, str, list[Action]]] = []
    loose: list[Action] = []

    def flush_loose() -> None:
        for group in _auto_split(loose, timeline, th):
            groups.append((None, "auto", group))
        loose.clear()

    current: tuple[float, float, str | None] | None = None
    for a in actions:
        inside = next((iv for iv in intervals if iv[0] <= a.t_start <= iv[1]), None)
        if inside is None:
            if current is not None:
                current = None
            loose.append(a)
            continue
        if current is not inside:
            flush_loose()
            groups.append((inside[2], "marker", []))
            current = inside
        groups[-1][2].append(a)
    flush_loose()
    return groups


def _auto_split(actions: list[Action], timeline: Timeline, th: TaskThresholds) -> list[list[Action]]:
    groups: list[list[Action]] = []
    app: str | None = None
    for a in actions:
        idx = timeline.focus_at(a.t_start)
        focus = timeline.focus[idx] if idx >= 0 else None
        here = focus.app if focus else None
        new_app = here is not None and app is not None and here != app and _stays(timeline, idx, th.app_switch_min_s)
        idle = bool(groups) and a.t_start - groups[-1][-1].t_end >= th.idle_gap_s
        if not groups or idle or new_app:
            groups.append([])
        groups[-1].append(a)
        if here is not None and (app is None or new_app or idle):
            app = here
    return groups


def _stays(timeline: Timeline, idx: int, minimum: float) -> bool:
    """Does the focus change at ``idx`` last at least ``minimum`` seconds?"""
    if idx + 1 >= len(timeline.focus):
        return True
    return timeline.focus[idx + 1].t - timeline.focus[idx].t >= minimum


def _observe(task_id: str, index: int, action: Action, timeline: Timeline, screen: tuple[int, int],
             monitors: list[dict[str, Any]], frame: FrameRef | None = None, until: float | None = None) -> Step:
    if frame is None and action.type != "terminate":
        frame = timeline.frame_at_or_before(action.t_start)
    idx = timeline.focus_at(action.t_start)
    focus = timeline.focus[idx] if idx >= 0 else None
    x, y = (action.x, action.y) if action.x is not None else (None, None)
    obs = Observation(frame, focus.app if focus else None, focus.title if focus else None,
                      focus.url if focus else None, focus.rect if focus else None, _target(frame, x, y))
    # The frame after an action, for the did-anything-change check: never one from after the next action.
    after = timeline.frame_after(action.t_end, until) if action.type not in ("terminate", "wait") else None
    step = Step(task_id, index, action, obs, screen, monitors, after_frame=after, flags=set(action.flags))
    if frame is None:
        step.flags.add("no_frame")
    if focus is not None and focus.ai_assistant:
        step.flags.add("ai_assistant")
    return step
