"""The device privacy filter over the ordered input stream (device trust zone).

Turns raw capture records into ``Protected`` ones, or drops them:

* key events are kept only when the window that had keyboard focus *at that key* (known exactly
  from the ordered stream) is in scope, and then pass through the typed-text guard;
* pointer events are kept only over an in-scope window (topmost window under the pointer); a
  button release follows its press's fate so pairs stay intact;
* focus changes name the window only when it is in scope (otherwise ``window`` is None: not even
  the title of an excluded window is stored), and the title of an in-scope window passes the
  same detector as typed text first (shells put commands in titles, browsers page and mail
  subjects): a finding becomes ``[REDACTED:kind]``;
* damage notices feed the echo shield, which learns where typed keys appeared on screen; spans
  the guard redacts become taints, and ``protect_frame`` fills their echo (and that of held keys
  that may be a secret) in each frame before it is encoded.

Counts of what was suppressed are kept (numbers only). Owned by the recorder's writer thread.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Protocol

import msgspec

from jobshadow.capture.backend import DamageNotice, InputFocusNotice
from jobshadow.protect.echo import EchoShield, TypedSpan
from jobshadow.protect.scope import ScopePolicy
from jobshadow.protect.titles import TitleGuard
from jobshadow.protect.typed_text import HeldSpan, TypedTextGuard
from jobshadow.records import (
    EventRecord,
    FocusChange,
    FrameDrop,
    KeyEvent,
    Marker,
    MouseButton,
    MouseMove,
    Protected,
    Rect,
    Redaction,
    ScreenImage,
    Scroll,
    WindowInfo,
)


class WindowLookup(Protocol):
    def window(self, window_id: int) -> WindowInfo | None: ...

    def window_at(self, x: int, y: int) -> WindowInfo | None: ...

    def outer(self, window_id: int) -> Rect | None:
        """Where the client window ``window_id`` is on screen (with decorations), if shown."""
        ...


FilterInput = (KeyEvent | MouseMove | MouseButton | Scroll | InputFocusNotice | DamageNotice | FocusChange | Marker
               | FrameDrop)


class DeviceFilter:
    def __init__(self, policy: ScopePolicy, windows: WindowLookup, guard: TypedTextGuard, *,
                 shield: EchoShield | None = None, titles: TitleGuard | None = None) -> None:
        self.policy = policy
        self.windows = windows
        self.guard = guard
        self.shield = shield or EchoShield()
        self._titles = titles or TitleGuard()
        # Where keys typed into each focus window went: (client window, its rectangle then).
        self._typed_in: dict[int, tuple[int, Rect]] = {}
        guard.echoed = self._echoed
        self.suppressed: Counter[str] = Counter()
        self._focus_target: int | None = None
        self._buttons_kept: dict[int, bool] = {}
        self._last_focus_in_scope: WindowInfo | None = None
        self._focus_written = False
        # Streams the collection scope allows (an enrolled device's scope may exclude some).
        self.streams: frozenset[str] = frozenset({"keyboard", "mouse", "screen", "window"})

    def _in_scope(self, info: WindowInfo | None) -> bool:
        return self.policy.decide(info).allowed

    def _wrap(self, recs: list[KeyEvent | Redaction] | list[EventRecord]) -> list[Protected[EventRecord]]:
        for span in self.guard.take_spans():
            typed = self._typed(span)
            if typed is not None:
                self.shield.taint(typed)
        return [Protected(r) for r in recs]

    def apply(self, item: FilterInput) -> list[Protected[EventRecord]]:
        if isinstance(item, KeyEvent | MouseMove | MouseButton | Scroll | FocusChange):
            stream = ("keyboard" if isinstance(item, KeyEvent) else "window" if isinstance(item, FocusChange)
                      else "mouse")
            if stream not in self.streams:
                self.suppressed[f"stream_{stream}"] += 1
                return []
        if isinstance(item, KeyEvent):
            return self._key(item)
        if isinstance(item, MouseMove):
            if self._in_scope(self.windows.window_at(item.x, item.y)):
                return [Protected(item)]
            self.suppressed["mouse_move"] += 1
            return []
        if isinstance(item, MouseButton):
            return self._button(item)
        if isinstance(item, Scroll):
            if self._in_scope(self.windows.window_at(item.x, item.y)):
                return [Protected(item)]
            self.suppressed["scroll"] += 1
            return []
        if isinstance(item, DamageNotice):
            if item.box is not None:
                self.shield.damage(item.t, item.box)
            return []
        if isinstance(item, InputFocusNotice):
            if item.window_id != self._focus_target:
                out = self._wrap(self.guard.flush(force=True, now=item.t))
                self.guard.reset_context()
                self._focus_target = item.window_id
                return out
            return []
        if isinstance(item, FocusChange):
            return self._focus(item)
        return [Protected(item)]

    def _key(self, ev: KeyEvent) -> list[Protected[EventRecord]]:
        info = self.windows.window(ev.window_id) if ev.window_id else None
        if not self._in_scope(info):
            self.suppressed["key"] += 1
            return []
        if ev.window_id and info is not None:
            outer = self.windows.outer(info.window_id)
            if outer is not None:
                self._typed_in[ev.window_id] = (info.window_id, outer)
        return self._wrap(self.guard.push(ev))

    def _button(self, ev: MouseButton) -> list[Protected[EventRecord]]:
        out: list[Protected[EventRecord]] = []
        if ev.kind == "mouse_press":
            # A click usually moves the caret or focus: release held text first, checked, and
            # tell the detector a new field may start here (user name, then password).
            out = self._wrap(self.guard.flush(force=True, now=ev.t))
            self.guard.field_break()
            keep = self._in_scope(self.windows.window_at(ev.x, ev.y))
            self._buttons_kept[ev.button] = keep
        else:
            keep = self._buttons_kept.pop(ev.button, self._in_scope(self.windows.window_at(ev.x, ev.y)))
        if keep:
            out.append(Protected(ev))
        else:
            self.suppressed[ev.kind] += 1
        return out

    def _focus(self, ev: FocusChange) -> list[Protected[EventRecord]]:
        shown = ev.window if self._in_scope(ev.window) else None
        if shown is not None and shown.title:
            shown = msgspec.structs.replace(shown, title=self._titles.redact(shown.title))
        if self._focus_written and shown is None and self._last_focus_in_scope is None:
            return []  # still out of scope: nothing changed that we may record
        self._focus_written = True
        self._last_focus_in_scope = shown
        return [Protected(FocusChange(t=ev.t, window=shown))]

    def tick(self, now: float) -> list[Protected[EventRecord]]:
        return self._wrap(self.guard.tick(now))

    def flush(self) -> list[Protected[EventRecord]]:
        return self._wrap(self.guard.flush(force=True))

    def discard(self) -> int:
        self.shield.forget()
        return self.guard.discard()

    # --- the screen ----------------------------------------------------------------------------
    def protect_frame(self, frame: ScreenImage, buffer: Any, now: float) -> int:
        """Fill the echo of redacted and pending secrets in ``buffer`` (the frame's pixels)."""
        pending = [t for s in self.guard.pending(now) if (t := self._typed(s)) is not None]
        m = frame.meta
        return self.shield.protect(buffer, m.width, m.height, m.windows, m.grabbed_at, pending)

    def _typed(self, span: HeldSpan) -> TypedSpan | None:
        where = self._typed_in.get(span.window_id) if span.window_id else None
        if where is None:
            return None
        return TypedSpan(where[0], where[1], span.first, span.last, span.after)

    def _echoed(self, window_id: int | None, first: float, last: float, after: float | None,
                now: float) -> bool | None:
        where = self._typed_in.get(window_id) if window_id else None
        if where is None:
            return None
        return self.shield.echoed(where[1], first, last, after, now)
