"""Erasure and retention racing continuous landing and curation lose nothing (issue 12).

Erasure's purge once deleted files that a concurrent landing commit had just written: the
landing table's metadata then pointed at a missing file and acknowledged segments could no longer
be curated. Here two people's devices keep uploading and a curator keeps curating, while the main
thread, round after round, erases a third person and shreds what outlived its retention (a fourth
person's segments, captured under a one-day scope). Afterwards every segment the collector
acknowledged for the two is curated and readable, every table scans whole, and nothing failed on
the way.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from jobshadow.config import UploadSettings
from jobshadow.curate import curate
from jobshadow.govern import PIPELINE, Governance, enforce_retention, eq, erase_subject
from jobshadow.lake import curated
from jobshadow.testing.fleet import FleetDevice, LiveCollector, enrol_device, make_segment
from jobshadow.testing.lake import quiet_kill_switch
from jobshadow.upload.uploader import Uploader

pytestmark = pytest.mark.slow

ROUNDS = 6


def upload(device: FleetDevice) -> int:
    up = Uploader(device.home, UploadSettings(auto_approve_after=0, bandwidth_bytes_per_s=0), device.identity,
                  device.key)
    try:
        return up.run_once().landed
    finally:
        up.close()


def wait_curated(gov: Governance, segments: list[str], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while True:
        done = set(gov.tables.scan(curated.SEGMENTS.name, ["segment_id"]).column("segment_id").to_pylist())
        if set(segments) <= done:
            return
        assert time.monotonic() < deadline, "segments were never curated"
        time.sleep(0.2)


def test_erasure_and_retention_never_take_what_landing_and_curation_need(tmp_path: Path) -> None:
    collector = LiveCollector(tmp_path / "server", commit_interval_ms="50")
    stop = threading.Event()
    problems: list[str] = []
    acknowledged: list[str] = []
    erased: list[str] = []
    try:
        short = collector.approve_scope("short", retention_days=1)  # its segments expire at once
        kept = collector.approve_scope("work", retention_days=365)
        settings = quiet_kill_switch(collector.settings)
        stayers = [enrol_device(collector, tmp_path / n, f"{n}@example.com") for n in ("ada", "ben")]
        expiring = enrol_device(collector, tmp_path / "eve", "eve@example.com")

        def land() -> None:
            n = 0
            while not stop.wait(1.0):  # a steady stream, not a flood the curator could never catch up with
                n += 1
                for d in stayers[n % 2:n % 2 + 1]:
                    seg = make_segment(d.home, events=40, text=f"{d.identity.person} {n}", scope=kept, index=n)
                    try:
                        upload(d)
                    except Exception as exc:  # a thread boundary: the assertion below names it
                        problems.append(f"upload: {type(exc).__name__}: {exc}")
                    if not seg.path.exists():  # the collector acknowledged it: it must never be lost
                        acknowledged.append(seg.id)

        def keep_curating() -> None:
            with Governance(settings) as gov:
                while not stop.is_set():
                    try:
                        report = curate(gov, limit=4)
                    except Exception as exc:  # a thread boundary
                        problems.append(f"curate: {type(exc).__name__}: {exc}")
                        continue
                    if report.failed:
                        problems.append(f"curation failed for {report.failed} segment(s)")

        workers = [threading.Thread(target=land, name="landing"), threading.Thread(target=keep_curating,
                                                                                 name="curation")]
        with Governance(settings) as gov:  # made first: the lake's tables exist before the curator opens them
            for w in workers:
                w.start()
            try:
                for i in range(ROUNDS):
                    victim = enrol_device(collector, tmp_path / f"v{i}", f"victim{i}@example.com")
                    segs = [make_segment(victim.home, events=40, text="to be erased", scope=kept).id,
                            make_segment(expiring.home, events=40, text="to expire", scope=short, index=i + 1).id]
                    assert upload(victim) == 1 and upload(expiring) == 1
                    wait_curated(gov, segs)  # then neither is in the landing zone any more
                    subject = gov.keys.pseudonym(victim.identity.person_id)
                    report = erase_subject(gov, subject, by="person:dpo@example.com")
                    assert report.residual == [], report.residual
                    erased.append(subject)
                    shredded = enforce_retention(gov, by="person:admin@example.com", apply=True)
                    assert shredded.rows_deleted.get(curated.SEGMENTS.name)  # Eve's segment expired
            finally:
                stop.set()
                for w in workers:
                    w.join(120)
        assert problems == []
        assert len(acknowledged) >= ROUNDS
        with Governance(settings) as gov:
            assert curate(gov).failed == 0  # whatever landed last is curated too
            done = set(gov.read(PIPELINE, "processing", curated.SEGMENTS.name, ["segment_id"]).data
                       .column("segment_id").to_pylist())
            assert set(acknowledged) <= done, sorted(set(acknowledged) - done)[:5]
            # Every table reads whole (no manifest or data file missing), the landing table too.
            for name in gov.labelled_tables():
                gov.tables.scan(name)
            eve = gov.keys.pseudonym(expiring.identity.person_id)
            for gone in [*erased, eve]:
                assert gov.tables.scan(curated.EVENTS.name, ["subject"], eq("subject", gone)).num_rows == 0
    finally:
        stop.set()
        collector.stop()

