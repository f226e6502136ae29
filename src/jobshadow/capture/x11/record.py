"""The ordered X11 input stream, read with the RECORD extension (device zone).

One RECORD context intercepts, in the order the server processed them:

* device events: key press/release, button press/release, pointer motion;
* ``DamageNotify`` events delivered to the grabber's connection (the screen started changing);
* core requests ``SetInputFocus`` (keyboard focus moved), ``UnmapWindow``/``DestroyWindow``
  (the focused window may be going away) and ``ChangeKeyboardMapping`` (a keycode was remapped).

Recorded device events carry no modifier state, so ``Keymap`` tracks it. Server timestamps
(milliseconds, wrapping at 2**32) are mapped to the recorder's monotonic clock by ``ServerClock``.

The callback runs on the reading thread and only parses and hands records to the sink; it never
blocks, so the X server never stalls on us.
"""

from __future__ import annotations

import contextlib
import logging
import struct
import threading
import time
from typing import Any

from Xlib import X
from Xlib import display as xdisplay
from Xlib.ext import record as xrecord

from jobshadow.capture.backend import DamageNotice, InputFocusNotice, StreamSink
from jobshadow.capture.x11.display import connect
from jobshadow.capture.x11.keymap import Keymap
from jobshadow.errors import CaptureError
from jobshadow.records import ButtonKind, KeyEvent, MouseButton, MouseMove, Rect, Scroll

log = logging.getLogger(__name__)

_EVENT = struct.Struct("=BBHIIIIhhhhHB")  # core device event layout (32 bytes with padding)
_DAMAGE = struct.Struct("=IhhHH")  # DamageNotify from byte 12: timestamp, area x, y, width, height
_REQ_SET_INPUT_FOCUS = 42
_REQ_UNMAP_WINDOW = 10
_REQ_DESTROY_WINDOW = 4
_REQ_CHANGE_KEYBOARD_MAPPING = 100
_POINTER_ROOT = 1
START_TIMEOUT_S = 5.0

# Wheel buttons → (dx, dy) per notch.
_WHEEL = {4: (0, -1), 5: (0, 1), 6: (-1, 0), 7: (1, 0)}


class ServerClock:
    """Maps X server milliseconds to seconds on ``time.monotonic``.

    The offset is measured once with a property round trip (the median of a few samples); the
    32-bit server time is unwrapped so a long recording does not jump back after 49.7 days.
    """

    def __init__(self, offset_ms: float) -> None:
        self.offset_ms = offset_ms
        self._last = 0
        self._epoch = 0

    @classmethod
    def measure(cls, d: xdisplay.Display) -> ServerClock:
        win = d.screen().root.create_window(0, 0, 1, 1, 0, 0, X.InputOnly, X.CopyFromParent,
                                            event_mask=X.PropertyChangeMask)
        atom = d.intern_atom("_JOBSHADOW_CLOCK")
        string = d.intern_atom("STRING")
        samples: list[float] = []
        try:
            for _ in range(5):
                before = time.monotonic()
                win.change_property(atom, string, 8, b"t")
                d.flush()
                while True:
                    ev = d.next_event()
                    if ev.type == X.PropertyNotify and ev.window.id == win.id:
                        break
                after = time.monotonic()
                samples.append((before + after) / 2 * 1000.0 - ev.time)
        finally:
            win.destroy()
            d.flush()
        samples.sort()
        return cls(samples[len(samples) // 2])

    def to_mono(self, server_ms: int) -> float:
        if server_ms < self._last and self._last - server_ms > 0x80000000:
            self._epoch += 1 << 32
        self._last = server_ms
        return (server_ms + self._epoch + self.offset_ms) / 1000.0


class XRecordInput:
    """Reads the ordered input stream on its own thread and feeds the sink."""

    def __init__(self, display_name: str, damage_event_code: int | None) -> None:
        self._name = display_name
        self._damage_code = damage_event_code
        self._ctl = connect(display_name)
        self._data = connect(display_name)
        self.clock = ServerClock.measure(self._ctl)
        setup = self._ctl.display.info
        first = setup.min_keycode
        count = setup.max_keycode - first + 1
        self.keymap = Keymap(first, [list(r) for r in self._ctl.get_keyboard_mapping(first, count)])
        self._init_locks()
        self._ctx: int | None = None
        self._thread: threading.Thread | None = None
        self._sink: StreamSink | None = None
        self._focus: int | None = self._current_focus()
        self._pointer = (0, 0)
        self.failure: BaseException | None = None
        self.events_seen = 0
        self._enabled = threading.Event()

    @property
    def clock_offset_ms(self) -> float:
        return self.clock.offset_ms

    # --- setup ---------------------------------------------------------------------------
    def _init_locks(self) -> None:
        """Seed Caps/Num Lock from the server; everything else starts released."""
        mask = self._ctl.screen().root.query_pointer().mask
        self.keymap.state.caps_lock = bool(mask & X.LockMask)
        mod_map = self._ctl.get_modifier_mapping()
        numlock_codes = {kc for kc, syms in self._keycodes_with(0xFF7F)}
        for index, keycodes in enumerate(mod_map):
            if any(kc in numlock_codes for kc in keycodes if kc):
                self.keymap.state.num_lock = bool(mask & (1 << index))

    def _keycodes_with(self, keysym: int) -> list[tuple[int, tuple[int, ...]]]:
        out = []
        for kc in range(self.keymap.min_keycode, 256):
            syms = self.keymap.syms(kc)
            if keysym in syms:
                out.append((kc, syms))
        return out

    def _current_focus(self) -> int | None:
        focus = self._ctl.get_input_focus().focus
        wid = focus if isinstance(focus, int) else focus.id
        return None if wid in (X.NONE, _POINTER_ROOT) else wid

    def start(self, sink: StreamSink) -> None:
        self._sink = sink
        rng: dict[str, Any] = {
            "core_requests": (0, 0),
            "core_replies": (0, 0),
            "ext_requests": (0, 0, 0, 0),
            "ext_replies": (0, 0, 0, 0),
            "delivered_events": (0, 0),
            "device_events": (X.KeyPress, X.MotionNotify),
            "errors": (0, 0),
            "client_started": False,
            "client_died": False,
        }
        ranges = [rng]
        if self._damage_code is not None:
            ranges.append({**rng, "device_events": (0, 0),
                           "delivered_events": (self._damage_code, self._damage_code)})
        for op in (_REQ_DESTROY_WINDOW, _REQ_UNMAP_WINDOW, _REQ_SET_INPUT_FOCUS, _REQ_CHANGE_KEYBOARD_MAPPING):
            ranges.append({**rng, "device_events": (0, 0), "core_requests": (op, op)})
        self._ctx = self._ctl.record_create_context(0, [xrecord.AllClients], ranges)
        # Without this round trip the data connection can race the context creation (XError 154).
        self._ctl.sync()
        self._thread = threading.Thread(target=self._run, name="x11-record", daemon=True)
        self._thread.start()
        # The context is enabled on the reading thread; input before that is never seen. Return
        # once the server says data starts (or the thread failed), so "started" means capturing.
        if not self._enabled.wait(START_TIMEOUT_S) and self.failure is None:
            log.warning("the input stream did not confirm it started within %.0f s", START_TIMEOUT_S)

    def _run(self) -> None:
        try:
            self._data.record_enable_context(self._ctx, self._on_reply)
        except Exception as exc:  # thread boundary: report, never die silently
            self.failure = exc
            log.error("input stream stopped: %s", type(exc).__name__)
        finally:
            self._enabled.set()
            with contextlib.suppress(Exception):  # the connection may already be gone
                self._data.record_free_context(self._ctx)

    def stop(self, timeout: float) -> None:
        if self._ctx is None:
            return
        try:
            self._ctl.record_disable_context(self._ctx)
            self._ctl.flush()
        except Exception:
            log.debug("disable_context failed", exc_info=True)
        if self._thread is not None:
            self._thread.join(timeout)
        for d in (self._ctl, self._data):
            with contextlib.suppress(Exception):  # closing a broken connection
                d.close()
        self._ctx = None

    # --- parsing (reading thread) --------------------------------------------------------
    def _on_reply(self, reply: Any) -> None:
        cat = reply.category
        if cat == xrecord.StartOfData:
            self._enabled.set()
        elif cat == xrecord.FromServer:
            self._parse_events(reply.data)
        elif cat == xrecord.FromClient:
            self._parse_requests(reply.data, bool(reply.client_swapped))

    def _parse_events(self, data: bytes) -> None:
        sink = self._sink
        assert sink is not None
        to_mono = self.clock.to_mono
        for off in range(0, len(data) - 31, 32):
            typ, detail, _seq, tm, _root, _ev, _child, rx, ry, _ex, _ey, _state, _same = _EVENT.unpack_from(data, off)
            typ &= 0x7F
            t = to_mono(tm)
            self.events_seen += 1
            if typ == X.MotionNotify:
                self._pointer = (rx, ry)
                sink(MouseMove(t=t, x=rx, y=ry))
            elif typ == X.KeyPress:
                k = self.keymap.press(detail)
                sink(KeyEvent(t, "key_press", detail, k.keysym, k.name, k.char, k.modifiers, self._focus))
            elif typ == X.KeyRelease:
                k = self.keymap.release(detail)
                sink(KeyEvent(t, "key_release", detail, k.keysym, k.name, k.char, k.modifiers, self._focus))
            elif typ in (X.ButtonPress, X.ButtonRelease):
                self._pointer = (rx, ry)
                mods = self.keymap.modifier_names()
                if detail in _WHEEL:
                    if typ == X.ButtonPress:
                        dx, dy = _WHEEL[detail]
                        sink(Scroll(t=t, x=rx, y=ry, dx=dx, dy=dy, modifiers=mods))
                else:
                    kind: ButtonKind = "mouse_press" if typ == X.ButtonPress else "mouse_release"
                    sink(MouseButton(t=t, kind=kind, button=detail, x=rx, y=ry, modifiers=mods))
            elif self._damage_code is not None and typ == self._damage_code:
                # DamageNotify: level(1) drawable(4) damage(4) timestamp(4) area(x, y, w, h)
                dtime, ax, ay, aw, ah = _DAMAGE.unpack_from(data, off + 12)
                sink(DamageNotice(to_mono(dtime), Rect(ax, ay, aw, ah) if aw and ah else None))
            else:
                self.events_seen -= 1

    def _parse_requests(self, data: bytes, swapped: bool) -> None:
        sink = self._sink
        assert sink is not None
        order = ">" if swapped != (struct.pack("=H", 1) == b"\x00\x01") else "<"
        off = 0
        while off + 4 <= len(data):
            op = data[off]
            (length,) = struct.unpack_from(order + "H", data, off + 2)
            size = length * 4
            if size == 0:  # BIG-REQUESTS: the real length follows
                if off + 8 > len(data):
                    return
                (size,) = struct.unpack_from(order + "I", data, off + 4)
                size *= 4
                body = off + 8
            else:
                body = off + 4
            if size < 4 or off + size > len(data):
                return
            if op == _REQ_SET_INPUT_FOCUS and body + 8 <= off + size:
                focus, tm = struct.unpack_from(order + "II", data, body)
                wid = None if focus in (X.NONE, _POINTER_ROOT) else focus
                self._focus = wid
                sink(InputFocusNotice(time.monotonic() if tm == 0 else self.clock.to_mono(tm), wid))
            elif op in (_REQ_UNMAP_WINDOW, _REQ_DESTROY_WINDOW) and body + 4 <= off + size:
                (wid,) = struct.unpack_from(order + "I", data, body)
                if wid == self._focus:
                    # The focused window is going away; until the next SetInputFocus nobody
                    # knows where keys go, so treat them as out of scope.
                    self._focus = None
                    sink(InputFocusNotice(time.monotonic(), None))
            elif op == _REQ_CHANGE_KEYBOARD_MAPPING:
                count = data[off + 1]
                first, per = data[body], data[body + 1]
                syms = struct.unpack_from(order + f"{count * per}I", data, body + 4) if count * per else ()
                self.keymap.change(first, per, list(syms))
            off += size


def damage_event_code(d: xdisplay.Display) -> int:
    ext = d.query_extension("DAMAGE")
    if not ext.present:
        raise CaptureError("the X server lacks the DAMAGE extension")
    return int(ext.first_event)
