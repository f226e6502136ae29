"""Small helpers shared by CLI commands: durations, JSON output."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import click

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def parse_duration(text: str) -> float:
    """'90', '90s', '30m', '1h30m', '2d' → seconds."""
    m = _DURATION.match(text.strip().lower())
    if not text.strip() or m is None or not any(m.groups()):
        raise click.BadParameter(f"{text!r} is not a duration (examples: 90s, 30m, 1h30m)")
    d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    total = d * 86400 + h * 3600 + mi * 60 + s
    if total <= 0:
        raise click.BadParameter("duration must be positive")
    return total


class Duration(click.ParamType[float, Any]):
    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            return float(value)
        return parse_duration(str(value))


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
