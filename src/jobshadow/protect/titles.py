"""Window titles through the typed-text detector (device trust zone).

Shells put the running command in the terminal title, browsers the page or mail subject: a title
is text like any other. Titles of in-scope windows are stored only after the detector has
replaced each finding with ``[REDACTED:kind]``, and a window whose title holds a finding has its
title bar filled in every frame (the recorder subtracts ``decoration`` from the kept region), so
the pixels do not show what the metadata no longer says.

A title the detector cannot check counts as holding a finding (fail closed).
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from jobshadow.protect.masking import Box
from jobshadow.records import WindowInfo

log = logging.getLogger(__name__)


class TitleGuard:
    """Not thread-safe; each thread that needs one owns its own (the cache is the only state)."""

    def __init__(self, cache: int = 1024) -> None:
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._size = cache

    def redact(self, title: str) -> str:
        """``title`` with every secret or piece of PII replaced by ``[REDACTED:kind]``."""
        if not title:
            return title
        hit = self._cache.get(title)
        if hit is not None:
            self._cache.move_to_end(title)
            return hit
        out = _redact(title)
        self._cache[title] = out
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return out

    def has_secret(self, title: str) -> bool:
        return bool(title) and self.redact(title) != title

    def decoration(self, info: WindowInfo) -> Box | None:
        """The title bar drawn above the client, if the window manager decorates it."""
        frame, client = info.frame, info.geometry
        if frame is None or client.y <= frame.y:
            return None
        return (frame.x, frame.y, frame.x + frame.width, client.y)


def _redact(title: str) -> str:
    from jobshadow.sensitive import scan

    try:
        found = scan(title, strict=True)
    except Exception:
        log.error("title detector failed; title withheld")
        return "[REDACTED:unscanned]"
    parts: list[str] = []
    pos = 0
    for f in found:
        parts += [title[pos:f.start], f"[REDACTED:{f.kind}]"]
        pos = f.end
    parts.append(title[pos:])
    return "".join(parts)


def redact_title(title: str) -> str:
    """One-off redaction of a title (no cache)."""
    return _redact(title) if title else title
