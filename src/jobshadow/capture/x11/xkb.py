"""Keysym names and characters, from libxkbcommon — the reference implementation (device zone).

Only two pure functions are used (no keymap, no state), through ctypes, so there is no
compile step and no second keymap to keep in sync with the server.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

from jobshadow.errors import CaptureError


@functools.cache
def _lib() -> ctypes.CDLL:
    name = ctypes.util.find_library("xkbcommon") or "libxkbcommon.so.0"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        raise CaptureError(
            "libxkbcommon is missing; install it (Debian: apt-get install libxkbcommon0)"
        ) from None
    lib.xkb_keysym_to_utf8.argtypes = [ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t]
    lib.xkb_keysym_to_utf8.restype = ctypes.c_int
    lib.xkb_keysym_get_name.argtypes = [ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t]
    lib.xkb_keysym_get_name.restype = ctypes.c_int
    return lib


@functools.lru_cache(maxsize=4096)
def keysym_name(keysym: int) -> str:
    buf = ctypes.create_string_buffer(64)
    n = _lib().xkb_keysym_get_name(keysym & 0xFFFFFFFF, buf, 64)
    if n <= 0:
        return f"0x{keysym:08x}"
    return buf.value.decode("ascii", "replace")


# Keys whose text is a control character that still means text in an editor.
_TEXT_CONTROLS = {"\r": "\n", "\n": "\n", "\t": "\t"}


@functools.lru_cache(maxsize=4096)
def keysym_char(keysym: int) -> str | None:
    """The character a keysym types, or None for keys that type nothing (arrows, F-keys, Escape).

    Return and KP_Enter give "\\n", Tab gives "\\t"; other control characters (BackSpace,
    Delete, Escape) give None because they edit rather than type.
    """
    if keysym == 0:
        return None
    buf = ctypes.create_string_buffer(8)
    n = _lib().xkb_keysym_to_utf8(keysym & 0xFFFFFFFF, buf, 8)
    if n <= 1:  # n counts the terminating NUL
        return None
    ch = buf.raw[: n - 1].decode("utf-8", "replace")
    if ch in _TEXT_CONTROLS:
        return _TEXT_CONTROLS[ch]
    if len(ch) == 1 and (ord(ch) < 0x20 or ord(ch) == 0x7F):
        return None
    return ch
