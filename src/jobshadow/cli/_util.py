"""Small helpers shared by CLI commands: durations, JSON output."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from jobshadow.durations import parse_seconds


def parse_duration(text: str) -> float:
    """'90', '90s', '30m', '1h30m', '2d' → seconds (positive)."""
    try:
        total = parse_seconds(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
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
