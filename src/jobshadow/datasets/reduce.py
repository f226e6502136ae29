"""Action reduction: raw input events become the actions an agent would take (curated zone / device).

Rules and their thresholds (``Thresholds``; README "Datasets" lists the same numbers):

* Pointer motion is never an action: it becomes the pre-move trace of the next action.
* A button press and its release make a **click** (button 3: ``right_click``, 2:
  ``middle_click``). A left click whose press comes within ``multi_click_s`` (0.5 s) of the
  previous click's last press and within ``multi_click_px`` (4 px) of it, with no other action
  between, turns that click into a ``double_click``, then a ``triple_click``. A release more than
  ``drag_px`` (6 px) from its press, with motion in between, is a **drag**; a press held longer
  than ``long_press_s`` (1 s) without dragging is a **long_press**.
* Consecutive wheel notches with no other action between them and less than ``scroll_merge_s``
  (1 s) apart merge into one **scroll** (notches summed per axis); a merge that sums to zero, and
  any zero-delta notch, is dropped.
* With ctrl, alt, super or hyper held, a key is a **hotkey** (e.g. ``ctrl+s``; shift is kept in
  the combination); shift with a key that types nothing (shift+tab) is a hotkey too.
* Printable keys merge into one **write**; BackSpace edits the text being written (and is a
  ``press backspace`` when there is nothing to edit). Enter and Tab end the write and become
  **press** actions, as do Escape, Delete, arrows, Home/End, Page Up/Down and function keys. A
  write also ends at any other action, at a focus change, and after ``write_gap_s`` (5 s) without
  typing.
* A redaction marker (a secret or PII removed on the device) stays a placeholder
  ``<redacted:KIND>`` in the text and flags the step ``redacted``; nothing is reconstructed.
* Pressing and releasing a modifier alone produces a ``modifier_only`` action that the quality
  filters remove and count.

Events are taken in recorded order; an event whose time goes backwards is dropped and counted
(``non_monotonic``), as are releases without a press and presses never released (``unpaired``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from jobshadow.datasets.model import Action, Focus, InputEvent
from jobshadow.records import SHORTCUT_MODIFIERS

MODIFIER_KEYS = {
    "Shift_L": "shift", "Shift_R": "shift", "Control_L": "ctrl", "Control_R": "ctrl", "Alt_L": "alt",
    "Alt_R": "alt", "Meta_L": "alt", "Meta_R": "alt", "Super_L": "super", "Super_R": "super", "Hyper_L": "hyper",
    "Hyper_R": "hyper", "ISO_Level3_Shift": "altgr", "Mode_switch": "mode_switch", "Caps_Lock": "capslock",
    "Num_Lock": "numlock", "Shift_Lock": "capslock", "ISO_Level5_Shift": "level5",
}
MODIFIER_ORDER = ("ctrl", "alt", "shift", "super", "hyper")
# X keysym names → the key names pyautogui and the datasets of the field use.
KEY_NAMES = {
    "Return": "enter", "KP_Enter": "enter", "Linefeed": "enter", "Tab": "tab", "ISO_Left_Tab": "tab",
    "BackSpace": "backspace",
    "Escape": "esc", "Delete": "delete", "KP_Delete": "delete", "Insert": "insert", "Home": "home", "End": "end",
    "Prior": "pageup", "Page_Up": "pageup", "Next": "pagedown", "Page_Down": "pagedown", "Left": "left",
    "Right": "right", "Up": "up", "Down": "down", "space": "space", "Menu": "apps", "Print": "printscreen",
    "KP_Left": "left", "KP_Right": "right", "KP_Up": "up", "KP_Down": "down", "KP_Home": "home", "KP_End": "end",
    "KP_Prior": "pageup", "KP_Next": "pagedown",
}
ENDS_WRITE = {"enter", "tab"}
BUTTON_CLICK = {1: "click", 2: "middle_click", 3: "right_click"}
# A click of the same button again, soon and close: the button stays in ``Action.button``.
MULTI_CLICK = {"click": "double_click", "right_click": "double_click", "middle_click": "double_click",
               "double_click": "triple_click"}


@dataclass(frozen=True)
class Thresholds:
    multi_click_s: float = 0.5
    multi_click_px: float = 4.0
    drag_px: float = 6.0
    long_press_s: float = 1.0
    scroll_merge_s: float = 1.0
    write_gap_s: float = 5.0
    scroll_travel_px: float = 20.0  # pointer travel between scrolls that starts a new scroll


@dataclass
class ReductionStats:
    events: int = 0
    dropped: Counter[str] = field(default_factory=Counter)


def key_name(keysym_name: str | None, char: str | None) -> str:
    if keysym_name in KEY_NAMES:
        return KEY_NAMES[keysym_name]
    if keysym_name and keysym_name.startswith("F") and keysym_name[1:].isdigit():
        return keysym_name.lower()
    if char and len(char) == 1 and char.isprintable():
        return char.lower()
    return (keysym_name or "unknown").lower()


def _dist(a: tuple[int | None, int | None], b: tuple[int | None, int | None]) -> float:
    if None in a or None in b:
        return 0.0
    return float(((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5)  # type: ignore[operator]


class Reducer:
    """Feed one session's events (and focus changes) in recorded order; ``finish`` returns actions."""

    def __init__(self, thresholds: Thresholds | None = None) -> None:
        self.th = thresholds or Thresholds()
        self.stats = ReductionStats()
        self.actions: list[Action] = []
        self._trace: list[tuple[float, int, int]] = []
        self._pointer: tuple[int | None, int | None] = (None, None)
        self._held: dict[int, tuple[InputEvent, bool, list[tuple[float, int, int]]]] = {}
        self._keys_down: dict[str, InputEvent] = {}
        self._modifier_alone: dict[str, InputEvent] = {}
        self._write: list[str] = []
        self._write_first: InputEvent | None = None
        self._write_last: InputEvent | None = None
        self._write_flags: set[str] = set()
        self._write_trace: list[tuple[float, int, int]] = []
        self._last_t: dict[str, float] = {}
        self._last_click: tuple[Action, float] | None = None  # the click a next press may extend
        self._last_event_t = float("-inf")

    # --- input -----------------------------------------------------------------------------------
    def focus(self, change: Focus) -> None:
        self._flush_write()

    def feed(self, e: InputEvent) -> None:
        self.stats.events += 1
        last = self._last_t.get(e.segment_id)
        if (last is not None and e.t < last) or e.t < self._last_event_t - 1e-6:
            self.stats.dropped["non_monotonic"] += 1
            return
        self._last_t[e.segment_id] = e.t
        self._last_event_t = e.t
        if self._write and self._write_last is not None and e.t - self._write_last.t > self.th.write_gap_s \
                and e.kind in ("key_press", "redaction"):
            self._flush_write()
        if e.kind == "mouse_move":
            self._move(e)
        elif e.kind == "mouse_press":
            self._press(e)
        elif e.kind == "mouse_release":
            self._release(e)
        elif e.kind == "scroll":
            self._scroll(e)
        elif e.kind == "key_press":
            self._key_press(e)
        elif e.kind == "key_release":
            self._key_release(e)
        elif e.kind == "redaction":
            self._redaction(e)

    def finish(self) -> list[Action]:
        self._flush_write()
        # Pressed and never released (buttons and keys).
        if self._held or self._keys_down:
            self.stats.dropped["unpaired"] += len(self._held) + len(self._keys_down)
        self._held.clear()
        self._keys_down.clear()
        merged_to_nothing = [a for a in self.actions if a.type == "scroll" and a.dx == 0 and a.dy == 0]
        if merged_to_nothing:  # wheel turned one way and back: no action
            self.stats.dropped["zero_scroll"] += len(merged_to_nothing)
            self.actions = [a for a in self.actions if not (a.type == "scroll" and a.dx == 0 and a.dy == 0)]
        return self.actions

    # --- pointer ---------------------------------------------------------------------------------
    def _move(self, e: InputEvent) -> None:
        if e.x is None or e.y is None:
            return
        self._pointer = (e.x, e.y)
        if self._held:  # a move with a button down belongs to that press (a drag), not to the next action
            for button, (press, _moved, trace) in list(self._held.items()):
                self._held[button] = (press, True, trace)
            return
        self._trace.append((e.t, e.x, e.y))

    def _take_trace(self) -> list[tuple[float, int, int]]:
        trace, self._trace = self._trace, []
        return trace

    def _press(self, e: InputEvent) -> None:
        if e.button is None or e.button >= 4:  # wheel buttons arrive as scroll events
            return
        self._flush_write()
        if e.x is not None:
            self._pointer = (e.x, e.y)
        if e.button in self._held:
            self.stats.dropped["unpaired"] += 1  # a second press without a release in between
        self._modifier_alone.clear()  # ctrl+click: the modifier belongs to the click
        self._held[e.button] = (e, False, self._take_trace())

    def _release(self, e: InputEvent) -> None:
        if e.button is None or e.button >= 4:
            return
        held = self._held.pop(e.button, None)
        if held is None:
            self.stats.dropped["unpaired"] += 1
            return
        press, moved, trace = held
        end = (e.x if e.x is not None else self._pointer[0], e.y if e.y is not None else self._pointer[1])
        start = (press.x, press.y)
        span = (press.segment_id, press.seq, e.segment_id, e.seq)
        mods = tuple(m for m in MODIFIER_ORDER if m in press.modifiers)
        base = Action("click", press.t, e.t, x=press.x, y=press.y, button=press.button, trace=trace, span=span,
                      window_id=press.window_id, keys=mods)
        if moved and _dist(start, end) > self.th.drag_px:
            base.type, base.end_x, base.end_y = "drag", end[0], end[1]
            self.actions.append(base)
            return
        if e.t - press.t > self.th.long_press_s:
            base.type = "long_press"
            self.actions.append(base)
            return
        base.type = BUTTON_CLICK.get(press.button or 1, "click")
        last = self._last_click
        if (last is not None and press.button == last[0].button and not mods and not last[0].keys
                and self.actions and self.actions[-1] is last[0]
                and last[0].type in ("click", "double_click", "right_click", "middle_click")
                and press.t - last[1] <= self.th.multi_click_s
                and _dist((last[0].x, last[0].y), start) <= self.th.multi_click_px):
            prev = last[0]
            prev.type = MULTI_CLICK.get(prev.type, "triple_click")
            prev.t_end = e.t
            if prev.span is not None:
                prev.span = (prev.span[0], prev.span[1], e.segment_id, e.seq)
            self._last_click = (prev, press.t)
            return
        self.actions.append(base)
        self._last_click = (base, press.t)

    def _scroll(self, e: InputEvent) -> None:
        self._flush_write()
        dx, dy = e.dx or 0, e.dy or 0
        if dx == 0 and dy == 0:
            self.stats.dropped["zero_scroll"] += 1
            return
        prev = self.actions[-1] if self.actions else None
        if prev is not None and prev.type == "scroll" and e.t - prev.t_end <= self.th.scroll_merge_s \
                and not self._trace_since(prev):
            prev.dx += dx
            prev.dy += dy
            prev.t_end = e.t
            if prev.span is not None:
                prev.span = (prev.span[0], prev.span[1], e.segment_id, e.seq)
            return
        self.actions.append(Action("scroll", e.t, e.t, x=e.x, y=e.y, dx=dx, dy=dy, trace=self._take_trace(),
                                   span=(e.segment_id, e.seq, e.segment_id, e.seq), window_id=e.window_id))

    def _trace_since(self, prev: Action) -> bool:
        """Did the pointer travel since ``prev`` (more than a jitter)? Then a new scroll starts."""
        if not self._trace or prev.x is None or prev.y is None:
            return False
        return any(_dist((x, y), (prev.x, prev.y)) > self.th.scroll_travel_px for _, x, y in self._trace)

    # --- keyboard --------------------------------------------------------------------------------
    def _key_press(self, e: InputEvent) -> None:
        name = e.keysym_name or ""
        self._keys_down[name] = e
        if name in MODIFIER_KEYS:
            self._modifier_alone[name] = e
            return
        self._modifier_alone.clear()  # a modifier used with a key is not a modifier-only press
        mods = [m for m in MODIFIER_ORDER if m in e.modifiers]
        key = key_name(e.keysym_name, e.char)
        typed = e.char
        shortcut = any(m in SHORTCUT_MODIFIERS for m in mods)
        if shortcut or (("shift" in mods) and not (typed and typed.isprintable()) and key not in ("space",)):
            self._flush_write()
            self.actions.append(Action("hotkey", e.t, e.t, keys=(*mods, key), trace=self._take_trace(),
                                       span=(e.segment_id, e.seq, e.segment_id, e.seq), window_id=e.window_id,
                                       flags={"ai_prompt"} if e.stream == "ai_prompt" else set()))
            return
        if key == "backspace":
            if self._write:
                self._write.pop()
                self._write_last = e
                return
            self.actions.append(Action("press", e.t, e.t, keys=("backspace",), trace=self._take_trace(),
                                       span=(e.segment_id, e.seq, e.segment_id, e.seq), window_id=e.window_id))
            return
        if typed and len(typed) == 1 and typed.isprintable() and key not in ENDS_WRITE:
            self._append_write(e, typed)
            return
        self._flush_write()
        self.actions.append(Action("press", e.t, e.t, keys=(key,), trace=self._take_trace(),
                                   span=(e.segment_id, e.seq, e.segment_id, e.seq), window_id=e.window_id))

    def _key_release(self, e: InputEvent) -> None:
        name = e.keysym_name or ""
        if self._keys_down.pop(name, None) is None:
            self.stats.dropped["unpaired"] += 1
            return
        alone = self._modifier_alone.pop(name, None)
        if alone is not None:
            self._flush_write()
            self.actions.append(Action("press", alone.t, e.t, keys=(MODIFIER_KEYS.get(name, name.lower()),),
                                       span=(alone.segment_id, alone.seq, e.segment_id, e.seq),
                                       window_id=alone.window_id, flags={"modifier_only"}))

    def _redaction(self, e: InputEvent) -> None:
        self._append_write(e, f"<redacted:{e.finding or 'secret'}>")
        self._write_flags.add("redacted")

    def _append_write(self, e: InputEvent, text: str) -> None:
        if not self._write:
            self._write_first = e
            self._write_trace = self._take_trace()
            self._write_flags = set()
        if e.stream == "ai_prompt":
            self._write_flags.add("ai_prompt")
        self._write.append(text)
        self._write_last = e

    def _flush_write(self) -> None:
        first, last = self._write_first, self._write_last
        if first is None or last is None:
            self._write.clear()
            return
        text = "".join(self._write)
        action = Action("write", first.t, last.t, text=text, trace=self._write_trace,
                        span=(first.segment_id, first.seq, last.segment_id, last.seq), window_id=first.window_id,
                        flags=set(self._write_flags))
        if not text:
            action.flags.add("empty")  # typed, then erased: the quality filters remove it
        self.actions.append(action)
        self._write.clear()
        self._write_first = self._write_last = None
        self._write_flags = set()
        self._write_trace = []


def reduce_events(events: list[InputEvent], focus: list[Focus] | None = None,
                  thresholds: Thresholds | None = None) -> tuple[list[Action], ReductionStats]:
    """Actions from one session's events (recorded order) with its focus changes interleaved."""
    reducer = Reducer(thresholds)
    changes = sorted(focus or [], key=lambda f: f.t)
    i = 0
    for e in events:
        while i < len(changes) and changes[i].t <= e.t:
            reducer.focus(changes[i])
            i += 1
        reducer.feed(e)
    return reducer.finish(), reducer.stats
