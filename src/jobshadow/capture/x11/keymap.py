"""Keycode → keysym → character with modifier state, following the core protocol rules (device zone).

Events recorded through XRecord carry no modifier state, so the state is tracked here from the
key events themselves. The keymap follows ``ChangeKeyboardMapping`` requests seen in the same
ordered XRecord stream, so a key typed right after a tool remaps a spare keycode (as xdotool does
for characters missing from the layout) is decoded with the mapping that was in force for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jobshadow.capture.x11.xkb import keysym_char, keysym_name
from jobshadow.records import MODIFIER_KEYSYMS, SHORTCUT_MODIFIERS

NO_SYMBOL = 0

# Lock keysyms (X11 keysymdef.h); which keysyms are modifiers, and their names, is shared
# vocabulary (``jobshadow.records``): the device filters and the dataset builder use it too.
XK_CAPS_LOCK = 0xFFE5
XK_SHIFT_LOCK = 0xFFE6
XK_NUM_LOCK = 0xFF7F


def _is_keypad(keysym: int) -> bool:
    return 0xFF80 <= keysym <= 0xFFBD or 0x11000000 <= keysym <= 0x1100FFFF


def _case_pair(keysym: int) -> tuple[int, int]:
    """Lower/upper keysyms of a letter keysym (core protocol rule when the second slot is empty)."""
    ch = keysym_char(keysym)
    if ch is None or len(ch) != 1 or not ch.isalpha():
        return keysym, keysym
    lo, up = ch.lower(), ch.upper()
    if len(lo) != 1 or len(up) != 1:
        return keysym, keysym
    return _char_keysym(lo, keysym), _char_keysym(up, keysym)


def _char_keysym(ch: str, fallback: int) -> int:
    cp = ord(ch)
    if 0x20 <= cp <= 0x7E or 0xA0 <= cp <= 0xFF:
        return cp
    return 0x01000000 | cp if cp > 0xFF else fallback


@dataclass
class ModifierState:
    pressed: dict[int, str] = field(default_factory=dict)  # keycode -> modifier name
    caps_lock: bool = False
    num_lock: bool = False

    def names(self) -> tuple[str, ...]:
        held = sorted(set(self.pressed.values()))
        if self.caps_lock:
            held.append("caps_lock")
        if self.num_lock:
            held.append("num_lock")
        return tuple(held)

    def held(self, name: str) -> bool:
        return name in self.pressed.values()

    def shortcut_active(self) -> bool:
        return any(n in SHORTCUT_MODIFIERS for n in self.pressed.values())


@dataclass(frozen=True, slots=True)
class DecodedKey:
    keysym: int
    name: str
    char: str | None
    modifiers: tuple[str, ...]


class Keymap:
    """The server's core keyboard mapping plus the tracked modifier state."""

    def __init__(self, min_keycode: int, keysyms: list[list[int]]) -> None:
        self.min_keycode = min_keycode
        self._map: dict[int, tuple[int, ...]] = {
            min_keycode + i: tuple(row) for i, row in enumerate(keysyms)
        }
        self.state = ModifierState()
        self._down: dict[int, DecodedKey] = {}

    def change(self, first_keycode: int, per_keycode: int, keysyms: list[int]) -> None:
        """Apply a ChangeKeyboardMapping request seen in the event stream."""
        if per_keycode <= 0:
            return
        for i in range(len(keysyms) // per_keycode):
            self._map[first_keycode + i] = tuple(keysyms[i * per_keycode : (i + 1) * per_keycode])

    def syms(self, keycode: int) -> tuple[int, ...]:
        return self._map.get(keycode, ())

    def _keysym(self, keycode: int) -> int:
        syms = self.syms(keycode)
        if not syms:
            return NO_SYMBOL
        st = self.state
        base = 0
        if st.held("altgr") and len(syms) > 4 and syms[4] != NO_SYMBOL:
            base = 4
        elif st.held("mode_switch") and len(syms) > 2 and syms[2] != NO_SYMBOL:
            base = 2
        lower = syms[base] if len(syms) > base else NO_SYMBOL
        upper = syms[base + 1] if len(syms) > base + 1 else NO_SYMBOL
        if upper == NO_SYMBOL:
            lower, upper = _case_pair(lower)
        shift = st.held("shift")
        if st.num_lock and _is_keypad(upper):
            return lower if shift else upper
        if st.caps_lock:
            ch = keysym_char(lower)
            if ch is not None and ch.isalpha():
                shift = not shift
        return upper if shift else lower

    def press(self, keycode: int) -> DecodedKey:
        """Decode a key press and update the modifier state after it."""
        ks = self._keysym(keycode)
        # The state a key is decoded with excludes the key itself.
        mods = self.state.names()
        char = None if self.state.shortcut_active() else keysym_char(ks)
        if ks in MODIFIER_KEYSYMS:
            self.state.pressed[keycode] = MODIFIER_KEYSYMS[ks]
            char = None
        elif ks in (XK_CAPS_LOCK, XK_SHIFT_LOCK):
            self.state.caps_lock = not self.state.caps_lock
            char = None
        elif ks == XK_NUM_LOCK:
            self.state.num_lock = not self.state.num_lock
            char = None
        decoded = DecodedKey(ks, keysym_name(ks), char, mods)
        self._down[keycode] = decoded
        return decoded

    def release(self, keycode: int) -> DecodedKey:
        """Decode a key release as the same key its press produced (the mapping may have changed)."""
        self.state.pressed.pop(keycode, None)
        mods = self.state.names()
        down = self._down.pop(keycode, None)
        if down is not None:
            return DecodedKey(down.keysym, down.name, down.char, mods)
        ks = self._keysym(keycode)
        return DecodedKey(ks, keysym_name(ks), None, mods)

    def modifier_names(self) -> tuple[str, ...]:
        return self.state.names()
