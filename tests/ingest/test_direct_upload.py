"""A segment no larger than a chunk lands in one signed request: the same checks, the same exactly-once.

``PUT /v1/segments/{content_hash}?segment_id=…`` carries the whole sealed segment. After every
refused request the test checks that what had already landed is untouched, and that a refused
payload left no blob behind.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobshadow.config import UploadSettings
from jobshadow.crypto.recipients import Recipient
from jobshadow.errors import RequestRejected, Transient
from jobshadow.protocol import API
from jobshadow.spool.store import open_segment
from jobshadow.testing.fleet import FleetDevice, LiveCollector, make_segment
from jobshadow.upload.client import CollectorClient
from jobshadow.upload.uploader import OutboxItem, Uploader

from .test_upload_api import landed_snapshot, seal_bytes


@pytest.fixture
def up(device: FleetDevice) -> Iterator[Uploader]:
    u = Uploader(device.home, UploadSettings(auto_approve_after=0, bandwidth_bytes_per_s=0), device.identity,
                 device.key)
    try:
        yield u
    finally:
        u.close()


def blobs(collector: LiveCollector) -> list[Path]:
    root = collector.settings.home / "server" / "objects" / "landing"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def put(client: CollectorClient, payload: bytes, content_hash: str, segment_id: str) -> dict[str, Any]:
    _, _, out = client.json("PUT", f"{API}/segments/{content_hash}", query=f"segment_id={segment_id}",
                            body_bytes=payload)
    assert isinstance(out, dict)
    return out


def prepared(up: Uploader, device: FleetDevice, **kw: Any) -> tuple[OutboxItem, bytes]:
    item = up.prepare(make_segment(device.home, **kw))
    return item, item.payload_path(up.outbox).read_bytes()


def routes_hit(collector: LiveCollector) -> dict[str, float]:
    text = collector.app.state.metrics.exposition().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("jobshadow_requests_total{"):
            route = line.split('route="', 1)[1].split('"', 1)[0]
            out[route] = out.get(route, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def test_a_small_segment_is_one_request_and_lands_once(collector: LiveCollector, device: FleetDevice,
                                                       client: CollectorClient, up: Uploader) -> None:
    seg = make_segment(device.home, events=800, video_bytes=200_000)
    stats = up.run_once()
    assert stats.landed == 1 and not seg.path.exists()
    assert not list(up.outbox.iterdir())
    hit = routes_hit(collector)
    assert hit.get(f"{API}/segments/{{content_hash}}") == 1
    assert f"{API}/uploads" not in hit  # no begin, no chunks, no complete
    rows = collector.service.landed_rows()
    assert [r["segment_id"] for r in rows] == [seg.id]
    [blob] = blobs(collector)
    assert rows[0]["blob_uri"] == f"file://{blob}"
    assert blob.read_bytes().startswith(b"JSSEAL1") and b"mouse_move" not in blob.read_bytes()
    assert rows[0]["payload_sha256"] == hashlib.sha256(blob.read_bytes()).hexdigest()


def test_a_retry_after_a_lost_answer_is_acknowledged_not_duplicated(collector: LiveCollector, device: FleetDevice,
                                                                    client: CollectorClient, up: Uploader) -> None:
    item, payload = prepared(up, device, events=300)
    first = put(client, payload, item.content_hash, item.segment_id)
    again = put(client, payload, item.content_hash, item.segment_id)
    assert first["state"] == again["state"] == "landed"
    assert first["upload_id"] == again["upload_id"] and again["received"] == len(payload)
    assert len(collector.service.landed_rows()) == 1 and len(blobs(collector)) == 1


def test_concurrent_sends_of_one_segment_land_one_row_and_keep_one_blob(
        collector: LiveCollector, device: FleetDevice, client: CollectorClient, up: Uploader) -> None:
    item, payload = prepared(up, device, events=400, video_bytes=300_000)
    results: list[str] = []

    def send() -> None:
        with CollectorClient(collector.url, device.identity) as c:
            results.append(put(c, payload, item.content_hash, item.segment_id)["state"])

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["landed"] * 6
    rows = collector.service.landed_rows()
    assert len(rows) == 1
    # Every loser of the race removed its own copy; the one left is the one the row names.
    assert [f"file://{b}" for b in blobs(collector)] == [rows[0]["blob_uri"]]


def test_hostile_payloads_are_refused_and_leave_nothing(collector: LiveCollector, device: FleetDevice,
                                                        client: CollectorClient, up: Uploader) -> None:
    assert up.run_once().landed == 0
    make_segment(device.home, events=100)
    assert up.run_once().landed == 1
    before, files = landed_snapshot(collector), blobs(collector)
    landing_pub = device.identity.landing_public_key
    real = make_segment(device.home, events=200, session="bbbbbb")
    plain = open_segment(real.path, device.key)[0].plaintext
    real_hash = hashlib.sha256(plain).hexdigest()

    def refused(payload: bytes, content_hash: str, segment_id: str, status: int, code: str) -> None:
        with pytest.raises(RequestRejected) as exc:
            put(client, payload, content_hash, segment_id)
        assert (exc.value.status, exc.value.code) == (status, code), str(exc.value)
        assert landed_snapshot(collector) == before
        assert blobs(collector) == files

    genuine = seal_bytes(plain, landing_pub, real.id)
    refused(seal_bytes(plain, landing_pub, real.id), "0" * 64, real.id, 422, "content_hash_mismatch")
    refused(seal_bytes(b"not an mcap file" * 64, landing_pub, "seg-x"), hashlib.sha256(b"x").hexdigest(), "seg-x",
            422, "not_mcap")
    cut = plain[: len(plain) // 2]
    refused(seal_bytes(cut, landing_pub, real.id), hashlib.sha256(cut).hexdigest(), real.id, 422, "not_mcap")
    refused(seal_bytes(plain, Recipient.generate().public_raw, real.id), real_hash, real.id, 422, "not_decryptable")
    refused(genuine[:-100], real_hash, real.id, 422, "not_decryptable")  # truncated in transit
    refused(b"JSSEAL1\n garbage", real_hash, real.id, 422, "not_decryptable")
    refused(seal_bytes(plain, landing_pub, "other-id"), real_hash, "other-id", 422, "segment_id_mismatch")
    refused(genuine, real_hash, "../../etc", 400, "invalid_segment_id")
    refused(genuine, "ZZ" * 32, real.id, 400, "invalid_hash")
    refused(b"", real_hash, real.id, 400, "empty_body")
    too_big = b"\0" * (collector.settings.server.max_chunk_bytes + 1)
    refused(too_big, real_hash, real.id, 413, "too_large")
    # and the genuine segment still lands afterwards
    assert put(client, genuine, real_hash, real.id)["state"] == "landed"
    assert len(landed_snapshot(collector)) == 2


def test_kill_switch_and_withdrawal_refuse_one_request_uploads(collector: LiveCollector, device: FleetDevice,
                                                               client: CollectorClient, up: Uploader) -> None:
    item, payload = prepared(up, device, events=150)
    collector.admin.pause_programme("incident", by="ciso@example.com")
    with pytest.raises(Transient) as paused:
        put(client, payload, item.content_hash, item.segment_id)
    assert "programme_paused" in str(paused.value)
    collector.admin.resume_programme(by="ciso@example.com")
    collector.admin.set_consent(device.identity.person_id, "withdrawn", "server", by="dpo@example.com")
    with pytest.raises(RequestRejected) as withdrawn:
        put(client, payload, item.content_hash, item.segment_id)
    assert withdrawn.value.code == "consent_withdrawn"
    assert collector.service.landed_rows() == [] and blobs(collector) == []


def test_a_segment_over_the_chunk_size_goes_in_resumable_chunks(collector: LiveCollector, device: FleetDevice,
                                                                client: CollectorClient) -> None:
    with Uploader(device.home, UploadSettings(auto_approve_after=0, bandwidth_bytes_per_s=0, chunk_bytes=64 * 1024),
                  device.identity, device.key) as small:
        make_segment(device.home, events=300, video_bytes=150_000)
        assert small.run_once().landed == 1
    hit = routes_hit(collector)
    assert f"{API}/segments/{{content_hash}}" not in hit
    assert hit[f"{API}/uploads/{{upload_id}}"] >= 3 and hit[f"{API}/uploads/{{upload_id}}/complete"] == 1


def test_a_collector_with_a_lower_limit_gets_smaller_chunks(tmp_path: Path) -> None:
    from jobshadow.testing.fleet import enrol_device

    collector = LiveCollector(tmp_path / "server", max_chunk_bytes="65536")
    try:
        collector.approve_scope()
        device = enrol_device(collector, tmp_path / "device", "bo@example.com")
        seg = make_segment(device.home, events=300, video_bytes=150_000)
        with Uploader(device.home, UploadSettings(auto_approve_after=0, bandwidth_bytes_per_s=0, chunk_bytes=2**20),
                      device.identity, device.key) as up:
            # Offered whole, refused (413); begun, and each 1 MiB chunk refused until it is halved
            # down to what this collector takes.
            assert up.run_once().landed == 1
        hit = routes_hit(collector)
        assert f"{API}/segments/{{content_hash}}" in hit and hit[f"{API}/uploads/{{upload_id}}/complete"] == 1
        assert [r["segment_id"] for r in collector.service.landed_rows()] == [seg.id]
    finally:
        collector.stop()


@pytest.mark.parametrize(("meta", "end"), [
    ({"schema_version": 5_000_000_000}, "2026-11-22T10:01:00+00:00"),
    ({"schema_version": "1"}, "2026-11-22T10:01:00+00:00"),
    ({"session_id": {"nested": 1}}, "2026-11-22T10:01:00+00:00"),
    ({"started": "yesterday"}, "2026-11-22T10:01:00+00:00"),
    ({}, 12345),
])
def test_metadata_the_landing_table_cannot_hold_is_refused(collector: LiveCollector, device: FleetDevice,
                                                           client: CollectorClient, meta: dict[str, Any],
                                                           end: Any) -> None:
    """A device controls its segment's metadata; a value the landing table cannot hold would fail
    every Iceberg append it is part of, holding back other devices' segments with it."""
    import io

    from jobshadow.records import MouseMove
    from jobshadow.segment.writer import SegmentWriter

    buf = io.BytesIO()
    w = SegmentWriter(buf, {"segment_id": "seg-meta", "session_id": "abcdef", "schema_version": 1,
                            "started": "2026-11-22T10:00:00+00:00", "wall_offset": 1.7e9, **meta})
    w.write(MouseMove(1.0, 10, 10))
    w.finish({"finished_by": "stop", "ended": end})
    plain = buf.getvalue()
    payload = seal_bytes(plain, device.identity.landing_public_key, "seg-meta")
    with pytest.raises(RequestRejected) as exc:
        put(client, payload, hashlib.sha256(plain).hexdigest(), "seg-meta")
    assert (exc.value.status, exc.value.code) == (422, "not_a_segment")
    assert collector.service.landed_rows() == [] and blobs(collector) == []
