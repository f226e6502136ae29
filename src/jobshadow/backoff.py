"""The one retry policy: exponential backoff with full jitter, never shorter than Retry-After (every zone).

Every loop that retries something that may pass — the uploader, the device's configuration sync —
asks a ``Backoff`` how long to wait. Delays double from ``initial`` up to ``maximum``, each drawn
at random from half the initial delay to the current cap, so a fleet of devices that lost the
collector together does not come back together. Imports nothing from jobshadow.
"""

from __future__ import annotations

import random


class Backoff:
    """Delays for consecutive failures; ``reset`` after a success. Not thread-safe (one per loop)."""

    def __init__(self, initial: float, maximum: float, *, rng: random.Random | None = None) -> None:
        if initial <= 0 or maximum < initial:
            raise ValueError("backoff needs 0 < initial <= maximum")
        self.initial = initial
        self.maximum = maximum
        self.attempts = 0
        self._rng = rng or random.Random()

    def next(self, retry_after: float | None = None) -> float:
        """The wait before the next try; at least ``retry_after`` (the server's Retry-After)."""
        self.attempts += 1
        cap = min(self.maximum, self.initial * 2 ** min(self.attempts, 20))
        delay = self._rng.uniform(self.initial / 2, cap)
        return max(delay, retry_after or 0.0)

    def reset(self) -> None:
        self.attempts = 0
