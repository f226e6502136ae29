"""The device's configuration sync without a collector: apply, cache, revoke, consent mirror, backoff.

The collector is a scripted double of ``CollectorClient``; the sync loop's waits go to a
recording stop event, so nothing here sleeps.
"""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any

from jobshadow.backoff import Backoff
from jobshadow.device_api import Consent, DeviceConfig, DeviceStatus, Programme, Scope, UploadPolicy
from jobshadow.errors import RequestRejected, Transient
from jobshadow.home import Home
from jobshadow.upload.sync import DeviceSync, cache_path, cached_config

CONFIG = DeviceConfig("e1", Programme("running"), Consent("given"), Scope("work", 2, apps=("xterm",)),
                      UploadPolicy(True), DeviceStatus("d1"))


class Collector:
    def __init__(self, configs: list[Any]) -> None:
        self.configs = configs
        self.consent: list[str] = []
        self.consent_failures = 0
        self.etags: list[str | None] = []

    def device_config(self, etag: str | None, wait: float) -> DeviceConfig | None:
        self.etags.append(etag)
        step = self.configs.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step  # type: ignore[no-any-return]

    def report_consent(self, state: str) -> None:
        if self.consent_failures:
            self.consent_failures -= 1
            raise Transient("away")
        self.consent.append(state)

    def close(self) -> None:
        pass


class Stop(threading.Event):
    def __init__(self, after: int) -> None:
        super().__init__()
        self.waits: list[float] = []
        self.after = after

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(float(timeout or 0))
        if len(self.waits) >= self.after:
            self.set()
        return self.is_set()


def sync(tmp_path: Path, collector: Collector, seen: list[DeviceConfig]) -> DeviceSync:
    return DeviceSync(Home(tmp_path).ensure(), collector, seen.append, retry_max=60.0)  # type: ignore[arg-type]


def test_a_new_configuration_is_applied_cached_and_asked_for_by_its_etag(tmp_path: Path) -> None:
    collector, seen = Collector([CONFIG, None]), []
    s = sync(tmp_path, collector, seen)
    assert s.poll_once(0) == CONFIG and seen == [CONFIG]
    assert s.poll_once(0) is None and seen == [CONFIG]  # unchanged (304): nothing applied again
    assert collector.etags == [None, "e1"]
    assert cached_config(Home(tmp_path)) == CONFIG
    # A restarted device applies the cached configuration before the collector answers.
    again: list[DeviceConfig] = []
    restarted = DeviceSync(Home(tmp_path), Collector([]), again.append)  # type: ignore[arg-type]
    assert restarted.config == CONFIG


def test_a_cache_this_version_cannot_read_is_no_configuration(tmp_path: Path) -> None:
    home = Home(tmp_path).ensure()
    cache_path(home).write_text('{"etag": 1}')
    assert cached_config(home) is None


def test_a_revoked_device_stops_capture_and_uploads(tmp_path: Path) -> None:
    collector, seen = Collector([RequestRejected(403, "device_revoked", "revoked")]), []
    s = sync(tmp_path, collector, seen)
    s._stop = Stop(after=1)
    s._run()
    assert seen == [DeviceConfig.revoked()]
    assert seen[0].upload_blocker() == "this device was revoked"


def test_outages_back_off_with_jitter_and_reset_after_contact(tmp_path: Path) -> None:
    collector = Collector([Transient("away"), Transient("away"), Transient("away", retry_after=30.0), CONFIG,
                           Transient("away")])
    s = sync(tmp_path, collector, [])
    s.backoff = Backoff(1.0, 60.0, rng=random.Random(3))
    s._stop = stop = Stop(after=4)
    s._run()
    assert 0.5 <= stop.waits[0] <= 2.0 and 0.5 <= stop.waits[1] <= 4.0
    assert stop.waits[2] >= 30.0  # Retry-After is honoured
    assert stop.waits[3] <= 2.0  # contact in between: the backoff started over
    assert s.error == "away" and s.last_contact is not None


def test_a_consent_change_is_reported_until_the_collector_has_it(tmp_path: Path) -> None:
    collector = Collector([None, None])
    collector.consent_failures = 1
    s = sync(tmp_path, collector, [])
    s.report_consent("withdrawn")  # the collector is away: kept
    assert collector.consent == []
    s._flush_consent()  # the loop tries again on its next round
    assert collector.consent == ["withdrawn"]
    s._flush_consent()
    assert collector.consent == ["withdrawn"]  # delivered once
