"""Human durations ("90s", "30m", "1h30m", "2d") ↔ seconds (shared leaf module)."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


class Duration(float):
    """Seconds, written in settings as a number or a string such as "10m"."""

    @classmethod
    def parse(cls, value: object) -> Duration:
        if isinstance(value, bool):
            raise ValueError("a duration is a number of seconds or a string like 10m")
        if isinstance(value, int | float):
            if value < 0:
                raise ValueError("a duration cannot be negative")
            return cls(value)
        if not isinstance(value, str):
            raise ValueError("a duration is a number of seconds or a string like 10m")
        return cls(parse_seconds(value))


def parse_seconds(text: str) -> float:
    """'90', '90s', '30m', '1h30m', '2d' → seconds (ValueError otherwise)."""
    m = _DURATION.match(text.strip().lower())
    if not text.strip() or m is None or not any(m.groups()):
        raise ValueError(f"{text!r} is not a duration (examples: 90s, 30m, 1h30m)")
    d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return d * 86400 + h * 3600 + mi * 60 + s
