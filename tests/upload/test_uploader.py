"""The uploader without a collector: delivery decisions, backoff after failures, the bandwidth cap.

The collector is a scripted double of ``CollectorClient.answer``; waits go to a recording ``stop``
event and the throttle gets a fake clock, so nothing here sleeps.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from jobshadow.backoff import Backoff
from jobshadow.config import UploadSettings
from jobshadow.device_api import UploadState
from jobshadow.durations import Duration
from jobshadow.errors import RequestRejected, Transient
from jobshadow.home import Home
from jobshadow.spool.keys import load_spool_key
from jobshadow.testing.fleet import make_segment
from jobshadow.upload.identity import DeviceIdentity
from jobshadow.upload.uploader import Throttle, Uploader


class Collector:
    """Answers requests from a script: each entry is an answer struct or an exception to raise."""

    def __init__(self, script: dict[tuple[str, str], list[Any]]) -> None:
        self.script = script
        self.calls: list[tuple[str, str, int]] = []

    def answer(self, typ: type[Any], method: str, path: str, body: Any = None, **kw: Any) -> Any:
        size = len(body) if isinstance(body, bytes) else 0
        self.calls.append((method, path.split("/")[2], size))
        step = self.script[(method, path.split("/")[2])].pop(0)
        if isinstance(step, BaseException):
            raise step
        return step

    def close(self) -> None:
        pass


class Stop(threading.Event):
    """A stop event that records every wait instead of waiting, and stops after ``after`` waits."""

    def __init__(self, after: int = 1_000) -> None:
        super().__init__()
        self.waits: list[float] = []
        self.after = after

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(float(timeout or 0))
        if len(self.waits) >= self.after:
            self.set()
        return self.is_set()


def landed(size: int = 0) -> UploadState:
    return UploadState("u1", "landed", size)


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home").ensure()


def uploader(home: Home, collector: Collector, **settings: Any) -> Uploader:
    landing = X25519PrivateKey.generate().public_key().public_bytes(serialization.Encoding.Raw,
                                                                     serialization.PublicFormat.Raw)
    identity = DeviceIdentity("d" * 16, "p@example.com", "p1", "http://127.0.0.1:9", landing, "now",
                              Ed25519PrivateKey.generate())
    cfg = UploadSettings(auto_approve_after=Duration(0), bandwidth_bytes_per_s=0, **settings)
    return Uploader(home, cfg, identity, load_spool_key(home, "file"), client=collector)  # type: ignore[arg-type]


def test_a_small_segment_goes_in_one_request_and_is_deleted_only_once_landed(home: Home) -> None:
    make_segment(home, events=50)
    collector = Collector({("PUT", "segments"): [Transient("collector away"), landed()]})
    up = uploader(home, collector)
    with pytest.raises(Transient):
        up.run_once()
    assert len(up.store.list()) == 1  # not acknowledged: still in the spool, prepared in the outbox
    up.run_once()
    assert up.stats.landed == 1 and up.store.list() == [] and not list(up.outbox.iterdir())


def test_a_larger_segment_is_resumed_from_what_the_collector_reports(home: Home) -> None:
    make_segment(home, events=3000)
    collector = Collector({
        ("PUT", "segments"): [RequestRejected(413, "too_large", "chunks are smaller here")],
        ("POST", "uploads"): [UploadState("u1", "open", 0), UploadState("u1", "landed", 1)],
        ("PUT", "uploads"): [RequestRejected(413, "chunk_too_large", "smaller"), UploadState("u1", "open", 16384),
                             RequestRejected(409, "offset_mismatch", "elsewhere"),
                             *[UploadState("u1", "open", 16384 * (i + 2)) for i in range(100)]],
        ("GET", "uploads"): [UploadState("u1", "open", 16384 * 2)],
    })
    up = uploader(home, collector, chunk_bytes=32 * 1024)
    up.run_once()
    puts = [size for method, route, size in collector.calls if (method, route) == ("PUT", "uploads")]
    assert puts[0] == 32 * 1024 and puts[1] == 16 * 1024  # a 413 halves the chunk, never below 16 KiB
    assert up.stats.landed == 1 and up.store.list() == []


def test_a_refused_segment_goes_to_quarantine_and_never_back_into_the_loop(home: Home) -> None:
    make_segment(home, events=50)
    collector = Collector({("PUT", "segments"): [RequestRejected(422, "bad_segment", "not a segment")]})
    up = uploader(home, collector)
    up.run_once()
    assert up.stats.quarantined == 1 and up.store.list() == []
    reasons = list(up.quarantine_dir.glob("*.reason.txt"))
    assert len(reasons) == 1 and "422 bad_segment" in reasons[0].read_text()
    up.run_once()  # nothing left to try
    assert len(collector.calls) == 1


def test_transient_failures_back_off_with_jitter_honour_retry_after_and_reset_after_a_success(home: Home) -> None:
    up = uploader(home, Collector({}), retry_initial=Duration(1), retry_max=Duration(60))
    up.backoff_policy = Backoff(1.0, 60.0, rng=random.Random(7))
    outcomes: list[Callable[[], None]] = [
        *[lambda: (_ for _ in ()).throw(Transient("away")) for _ in range(6)],  # six outages in a row
        lambda: (_ for _ in ()).throw(Transient("busy", retry_after=90.0)),
        lambda: None,  # then it works
        lambda: (_ for _ in ()).throw(Transient("away again")),
    ]
    up.run_once = lambda stop=None: outcomes.pop(0)()  # type: ignore[assignment,method-assign,misc]
    stop = Stop(after=len(outcomes))
    up.run(stop, idle=5.0)
    waits = stop.waits
    assert up.stats.retries == 8
    caps = [min(60.0, 2.0 ** n) for n in range(1, 7)]
    assert all(0.5 <= w <= cap for w, cap in zip(waits[:6], caps, strict=True))  # jittered, capped, growing
    assert max(waits[:6]) > 8  # it does grow
    assert waits[6] >= 90.0  # never shorter than the collector's Retry-After
    assert waits[7] == 5.0  # success: the idle wait
    assert waits[8] <= 2.0  # and the next failure starts the backoff over


def test_the_throttle_holds_to_the_bandwidth_cap() -> None:
    now = [100.0]
    slept: list[float] = []
    throttle = Throttle(1000, clock=lambda: now[0], sleep=slept.append)
    throttle.take(1000)  # the first second's worth goes at once
    assert slept == []
    throttle.take(500)  # then the bucket is empty: half a second's wait
    assert slept == [0.5]
    now[0] += 10.0  # ten idle seconds refill the bucket only up to one second's worth
    throttle.take(1000)
    throttle.take(250)
    assert slept == [0.5, 0.25]
    stop = Stop()
    throttle.take(100, stop)  # with a stop event the wait can be cut short
    assert stop.waits and slept == [0.5, 0.25]
    Throttle(0, sleep=slept.append).take(10**9)  # 0: no cap
    assert slept == [0.5, 0.25]
