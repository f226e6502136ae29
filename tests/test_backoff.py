"""The one retry policy: full jitter between half the first delay and a doubling cap."""

from __future__ import annotations

import random

import pytest

from jobshadow.backoff import Backoff


def test_delays_are_jittered_under_a_doubling_cap_and_start_over_after_reset() -> None:
    b = Backoff(1.0, 30.0, rng=random.Random(1))
    delays = [b.next() for _ in range(8)]
    caps = [min(30.0, 2.0 ** n) for n in range(1, 9)]
    assert all(0.5 <= d <= c for d, c in zip(delays, caps, strict=True))
    assert max(delays) <= 30.0 and max(delays[4:]) > 4.0
    b.reset()
    assert b.attempts == 0 and b.next() <= 2.0


def test_a_server_retry_after_is_a_floor() -> None:
    assert Backoff(1.0, 30.0, rng=random.Random(1)).next(retry_after=45.0) == 45.0


def test_two_devices_do_not_come_back_together() -> None:
    a, b = Backoff(1.0, 60.0, rng=random.Random(1)), Backoff(1.0, 60.0, rng=random.Random(2))
    assert [a.next() for _ in range(5)] != [b.next() for _ in range(5)]


def test_a_policy_that_cannot_wait_is_refused() -> None:
    with pytest.raises(ValueError, match="initial"):
        Backoff(0.0, 1.0)
