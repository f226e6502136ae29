"""Waiting for something to happen, with a deadline: the one poll helper tests and scripts use.

A fixed ``sleep`` either wastes time or, on a loaded machine, is too short; ``wait_for`` returns
as soon as the condition holds and fails with a message naming what never happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class NeverHappened(AssertionError):
    """The condition did not hold before the deadline."""


def wait_for(cond: Callable[[], T], timeout: float = 20.0, what: str = "the condition", *,
             interval: float = 0.02) -> T:
    """Poll ``cond`` until it returns something truthy (returned), or raise ``NeverHappened``."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise NeverHappened(f"not within {timeout:g} s: {what}")
        time.sleep(interval)
