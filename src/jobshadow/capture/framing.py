"""When to grab the screen and which grabs to encode (device zone; pure policy, no I/O).

Grabbing is cheap (shared memory, under a millisecond at 1080p); encoding is not (a few ms).
So the planner grabs soon after every change, keeps the last few grabs, and encodes only:

* **before an action** — the grab that shows the screen just before a click, scroll, shortcut or
  the first key of a typing burst, stamped with the latest time it is *known* to be current;
* **while the screen changes** — at most one frame per ``change_interval``;
* **when the screen settles** — the state once changes stop for ``settle``;
* **at segment start and at stop** — so every segment opens on a keyframe and ends on the final
  screen.

A grab is known to be current from its grab time until the first damage notice that follows it
in the ordered input stream (``valid_until``). Damage and actions arrive in server order, so a
before-action frame is never stamped after the first change that could have followed the action.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from jobshadow.records import InputRecord, KeyEvent, MouseButton, Scroll

Reason = Literal["start", "change", "before_action", "final"]

# Two presses this close belong to one typing burst; a key that continues a burst is not a new
# action (the dataset builder merges a burst into one `write`), so it does not force a frame.
TYPING_BURST_S = 1.5
# Wheel notches this close are one scroll action.
SCROLL_BURST_S = 0.5


@dataclass
class HeldGrab:
    gid: int
    t: float
    payload: Any  # the (already masked) image and its window snapshot; opaque here
    valid_until: float | None = None
    encoded: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Encode:
    grab: HeldGrab
    stamp: float
    reason: Reason


class ActionClassifier:
    """Decides which input records start an action that needs a before-frame."""

    def __init__(self) -> None:
        self._last_text_key: float | None = None
        self._last_scroll: float | None = None

    def starts_action(self, rec: InputRecord) -> bool:
        if isinstance(rec, MouseButton):
            self._last_text_key = None
            return rec.kind == "mouse_press"
        if isinstance(rec, Scroll):
            fresh = self._last_scroll is None or rec.t - self._last_scroll > SCROLL_BURST_S
            self._last_scroll = rec.t
            return fresh
        if isinstance(rec, KeyEvent):
            if rec.kind != "key_press":
                return False
            texty = (rec.char is not None and rec.char not in "\n\t") or rec.keysym_name == "BackSpace"
            if texty:
                fresh = self._last_text_key is None or rec.t - self._last_text_key > TYPING_BURST_S
                self._last_text_key = rec.t
                return fresh
            if rec.keysym_name.startswith(("Shift", "Control", "Alt", "Super", "Meta", "ISO_Level3")):
                return False  # a modifier alone is not an action; the key it modifies is
            self._last_text_key = None
            return True
        return False


class FramePlanner:
    """Not thread-safe: owned by the screen thread. Times are monotonic seconds."""

    def __init__(
        self,
        *,
        grab_interval: float,
        change_interval: float,
        settle: float,
        max_before_age: float = 0.05,
        history: int = 2,
    ) -> None:
        self.grab_interval = grab_interval
        self.change_interval = change_interval
        self.settle = settle
        self.max_before_age = max_before_age
        self._history_len = history
        self.history: list[HeldGrab] = []
        self.dirty = True  # nothing grabbed yet: the first tick grabs
        self._force_grab = True
        self._last_grab_t = float("-inf")
        self._last_change_encode = float("-inf")
        self._next_gid = 0
        self._want_start = True

    # --- inputs ------------------------------------------------------------------------------
    def damage(self, t: float) -> None:
        """A damage notice from the ordered stream: the screen changed at ``t``."""
        if self.history:
            latest = self.history[-1]
            if latest.valid_until is None:
                latest.valid_until = max(t, latest.t)
        self.dirty = True

    def action(self, t: float) -> list[Encode]:
        """An action starts at ``t``: make sure a frame from just before it is encoded."""
        if self.dirty:
            self._force_grab = True  # the action will likely change the screen: look soon
        grab = self._grab_before(t)
        if grab is None:
            return []
        valid = grab.valid_until if grab.valid_until is not None else t
        stamp = max(grab.t, min(t, valid) - 0.001)
        for s in grab.encoded:
            if s <= stamp and stamp - s <= self.max_before_age:
                return []
        return [self._encode(grab, stamp, "before_action")]

    def segment_started(self) -> None:
        """The writer opened a new segment: its first frame must show the current screen."""
        self._want_start = True
        if self.dirty:
            self._force_grab = True

    def before_grab(self) -> list[HeldGrab]:
        """Release all but the latest grab before a new one is taken; returns the released ones.

        An older grab only serves an action whose notice arrives just after a newer grab was
        taken (milliseconds); by the time the next grab is due that window has long passed, so
        holding it longer would only cost an image buffer.
        """
        released = self.history[:-1]
        del self.history[:-1]
        return released

    def new_grab(self, t: float, payload: Any) -> tuple[HeldGrab, list[HeldGrab]]:
        """Register a grab taken at ``t`` (after ``rearm``); returns it and the grabs it evicted."""
        g = HeldGrab(gid=self._next_gid, t=t, payload=payload)
        self._next_gid += 1
        self.history.append(g)
        evicted = self.history[: -self._history_len]
        del self.history[: -self._history_len]
        self.dirty = False
        self._force_grab = False
        self._last_grab_t = t
        return g, evicted

    # --- decisions ---------------------------------------------------------------------------------
    def wants_grab(self, now: float) -> bool:
        if self._force_grab:
            return True
        return self.dirty and now - self._last_grab_t >= self.grab_interval

    def due(self, now: float) -> list[Encode]:
        """Encodes that are due at ``now`` (start, rate-capped change, settled)."""
        if not self.history:
            return []
        latest = self.history[-1]
        out: list[Encode] = []
        if self._want_start and not self.dirty:
            stamp = max(latest.t, min(now, latest.valid_until or now) - 0.001)
            out.append(self._encode(latest, stamp, "start"))
            self._want_start = False
            return out
        if latest.encoded:
            return out
        settled = latest.valid_until is None and now - latest.t >= self.settle
        if settled or now - self._last_change_encode >= self.change_interval:
            out.append(self._encode(latest, latest.t, "change"))
            self._last_change_encode = now
        return out

    def final(self) -> list[Encode]:
        """The last frame at stop: the newest grab, stamped at its grab time."""
        if not self.history:
            return []
        latest = self.history[-1]
        return [self._encode(latest, max(latest.t, latest.encoded[-1] if latest.encoded else latest.t), "final")]

    def next_wakeup(self, now: float) -> float:
        """Seconds until something may become due (for the loop's wait)."""
        deadlines = []
        if self.dirty:
            deadlines.append(self._last_grab_t + self.grab_interval)
        if self.history and not self.history[-1].encoded:
            latest = self.history[-1]
            deadlines.append(latest.t + self.settle)
            deadlines.append(self._last_change_encode + self.change_interval)
        if not deadlines:
            return 0.5
        return max(0.0, min(deadlines) - now)

    # --- helpers ------------------------------------------------------------------------------------
    def _grab_before(self, t: float) -> HeldGrab | None:
        for g in reversed(self.history):
            if g.t <= t:
                return g
        return None

    def _encode(self, grab: HeldGrab, stamp: float, reason: Reason) -> Encode:
        grab.encoded.append(stamp)
        return Encode(grab, stamp, reason)
