"""Quality filters: what is removed from a dataset, and why, counted (curated zone / device).

Removed, each counted in the report under its name:

* ``unpaired`` — a button or key released without a press, or pressed and never released;
* ``non_monotonic`` — an event whose time goes backwards;
* ``zero_scroll`` — wheel notches that sum to nothing;
* ``empty`` — a write whose text was all erased, or a modifier pressed alone;
* ``out_of_range`` — pointer coordinates outside the screen, missing where the action needs them,
  or a screen of unknown size;
* ``no_frame`` — a step without a frame from before it (a terminate step without a final frame);
* ``own_window`` — a step on, or showing, one of jobshadow's own windows;
* ``empty_task`` — a task left with nothing but its terminate step.

Flagged, not removed: ``no_visible_effect`` — a click whose before and after frames are
identical (the click may have missed, or the effect came later); ``redacted`` — a write holding
a placeholder for a secret removed on the device; ``ai_prompt`` — text typed into an AI assistant.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from jobshadow.datasets.model import Step, Task

OWN_WINDOW = re.compile(r"^jobshadow\b|^org\.jobshadow\.", re.IGNORECASE)
CLICKS = ("click", "double_click", "triple_click", "right_click", "middle_click", "long_press")


@dataclass
class QualityReport:
    removed: Counter[str] = field(default_factory=Counter)
    flagged: Counter[str] = field(default_factory=Counter)

    def merge(self, other: QualityReport) -> None:
        self.removed.update(other.removed)
        self.flagged.update(other.flagged)

    def as_json(self) -> dict[str, dict[str, int]]:
        return {"removed": dict(sorted(self.removed.items())), "flagged": dict(sorted(self.flagged.items()))}


def _in_range(step: Step, x: int | None, y: int | None) -> bool:
    if x is None or y is None:
        return True
    width, height = step.screen
    if step.monitors:
        width = max((m.get("x", 0) + m.get("width", 0)) for m in step.monitors) or width
        height = max((m.get("y", 0) + m.get("height", 0)) for m in step.monitors) or height
    return 0 <= x < max(width, 1) and 0 <= y < max(height, 1)


def _own_window(step: Step) -> bool:
    if step.observation.app and OWN_WINDOW.search(step.observation.app):
        return True
    frame = step.observation.frame
    return frame is not None and any(OWN_WINDOW.search(str(w.get("wm_class", ""))) and not w.get("masked")
                                     for w in frame.windows)


POINTER_ACTIONS = (*CLICKS, "drag", "scroll")


def removal_reason(step: Step) -> str | None:
    a = step.action
    if "empty" in step.flags or "modifier_only" in step.flags:
        return "empty"
    if not (_in_range(step, a.x, a.y) and _in_range(step, a.end_x, a.end_y)):
        return "out_of_range"
    unplaced = a.type in POINTER_ACTIONS and (a.x is None or a.y is None)
    if unplaced or (a.type == "drag" and (a.end_x is None or a.end_y is None)) or min(step.screen) <= 0:
        return "out_of_range"  # nothing to replay it at, or no screen to normalise against
    if step.observation.frame is None or "no_final_frame" in step.flags:
        return "no_frame"
    if _own_window(step):
        return "own_window"
    return None


def filter_steps(tasks: list[Task]) -> tuple[list[Task], QualityReport]:
    """Remove what fails the filters (see the module docstring); renumber what is left."""
    report = QualityReport()
    kept_tasks: list[Task] = []
    for task in tasks:
        kept: list[Step] = []
        for step in task.steps:
            reason = removal_reason(step)
            if reason is not None:
                report.removed[reason] += 1
                continue
            kept.append(step)
        if not any(s.action.type != "terminate" for s in kept):
            report.removed["empty_task"] += 1
            continue
        for i, step in enumerate(kept):
            step.index = i
        task.steps = kept
        kept_tasks.append(task)
    return kept_tasks, report


def effect_pairs(tasks: list[Task]) -> list[tuple[tuple[str, int], tuple[str, int]]]:
    """(before, after) frames of every click, to fingerprint."""
    out = []
    for task in tasks:
        for step in task.steps:
            before, after = step.observation.frame, step.after_frame
            if step.action.type in CLICKS and before is not None and after is not None:
                out.append(((before.segment_id, before.frame_seq), (after.segment_id, after.frame_seq)))
    return out


def flag_effects(tasks: list[Task], fingerprints: dict[tuple[str, int], str], report: QualityReport) -> None:
    """Flag clicks whose before and after frames are identical; count every flag."""
    for task in tasks:
        for step in task.steps:
            before, after = step.observation.frame, step.after_frame
            if step.action.type in CLICKS and before is not None and after is not None:
                a = fingerprints.get((before.segment_id, before.frame_seq))
                b = fingerprints.get((after.segment_id, after.frame_seq))
                if a is not None and a == b:
                    step.flags.add("no_visible_effect")
            for flag in step.flags:
                report.flagged[flag] += 1
