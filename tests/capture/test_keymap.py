"""Keysym and character decoding with tracked modifiers (core protocol rules), no X server needed."""

from __future__ import annotations

from jobshadow.capture.x11.keymap import Keymap
from jobshadow.capture.x11.xkb import keysym_char, keysym_name

# keycodes: 10 'a', 11 '1'/'!', 12 Shift_L, 13 Caps_Lock, 14 Control_L, 15 Return, 16 BackSpace,
# 17 'e' with AltGr 'euro', 18 keypad KP_End/KP_1, 19 Num_Lock, 20 single 'udiaeresis'
ROWS = [
    [0x61, 0x41], [0x31, 0x21], [0xFFE1], [0xFFE5], [0xFFE3], [0xFF0D], [0xFF08],
    [0x65, 0x45, 0x65, 0x45, 0x20AC, 0], [0xFF9C, 0xFFB1], [0xFF7F], [0xFC],
]
ROWS[7][4] = 0x20AC  # euro sign keysym
ALTGR = [0xFE03]


def km() -> Keymap:
    return Keymap(10, [list(r) for r in ROWS] + [ALTGR])  # keycode 21: ISO_Level3_Shift


def test_names_and_chars_from_libxkbcommon() -> None:
    assert keysym_name(0x61) == "a"
    assert keysym_name(0xFF0D) == "Return"
    assert keysym_char(0xFF0D) == "\n"
    assert keysym_char(0xFF09) == "\t"
    assert keysym_char(0xFF08) is None  # BackSpace edits, it does not type
    assert keysym_char(0x20AC) == "€"
    assert keysym_char(0x1000000 | 0x1F600) == "😀"


def test_shift_and_caps_lock() -> None:
    k = km()
    assert k.press(10).char == "a"
    k.release(10)
    k.press(12)  # shift down
    d = k.press(10)
    assert d.char == "A" and d.modifiers == ("shift",)
    assert k.press(11).char == "!"
    k.release(12)
    k.press(13)  # caps lock on
    k.release(13)
    assert k.press(10).char == "A"
    assert k.press(11).char == "1"  # caps lock does not shift digits
    k.press(12)
    assert k.press(10).char == "a"  # shift undoes caps lock for letters


def test_single_keysym_letter_follows_case_rule() -> None:
    k = km()
    assert k.press(20).char == "ü"
    k.release(20)
    k.press(12)
    assert k.press(20).char == "Ü"


def test_shortcuts_type_nothing_but_keep_the_keysym() -> None:
    k = km()
    k.press(14)  # ctrl
    d = k.press(10)
    assert d.char is None and d.name == "a" and d.modifiers == ("ctrl",)


def test_altgr_level() -> None:
    k = km()
    k.press(21)
    assert k.press(17).char == "€"


def test_num_lock_keypad() -> None:
    k = km()
    assert k.press(18).name == "KP_End"
    k.release(18)
    k.press(19)
    k.release(19)
    assert k.press(18).char == "1"


def test_release_reports_the_key_its_press_produced_even_after_a_remap() -> None:
    k = km()
    k.change(20, 1, [0x20AC])  # xdotool-style scratch remap of keycode 20
    assert k.press(20).char == "€"
    k.change(20, 1, [0])  # mapping restored before the release arrives
    assert k.release(20).name == "EuroSign"


def test_return_types_newline() -> None:
    assert km().press(15).char == "\n"
