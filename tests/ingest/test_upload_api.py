"""The upload protocol on a live collector: resumable, idempotent, and hostile input refused with a reason.

After every refused request the test checks that what had already landed is untouched.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobshadow.config import UploadSettings
from jobshadow.crypto.recipients import Recipient, seal_to
from jobshadow.crypto.sealed import SealedWriter
from jobshadow.errors import RequestRejected
from jobshadow.protocol import API
from jobshadow.testing.fleet import FleetDevice, LiveCollector, make_segment
from jobshadow.upload.client import CollectorClient
from jobshadow.upload.uploader import Uploader

_uploaders: list[Uploader] = []


@pytest.fixture(autouse=True)
def _close_uploaders() -> Iterator[None]:
    yield
    while _uploaders:
        _uploaders.pop().close()


def uploader(device: FleetDevice, **kw: Any) -> Uploader:
    up = Uploader(device.home, UploadSettings(auto_approve_after=0, bandwidth_bytes_per_s=0, **kw), device.identity,
                  device.key)
    _uploaders.append(up)
    return up


def landed_snapshot(collector: LiveCollector) -> list[tuple[str, int]]:
    return sorted((r["content_hash"], r["size_bytes"]) for r in collector.service.landed_rows())


def seal_bytes(plain: bytes, recipient_public: bytes, segment_id: str) -> bytes:
    target = seal_to(recipient_public)
    buf = io.BytesIO()
    w = SealedWriter(buf, target.master, content="mcap", extra={**target.header, "segment_id": segment_id})
    w.write(plain)
    w.finish()
    return buf.getvalue()


def begin(client: CollectorClient, payload: bytes, content_hash: str, segment_id: str) -> dict[str, Any]:
    _, _, out = client.json("POST", f"{API}/uploads", {
        "content_hash": content_hash, "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "size": len(payload), "segment_id": segment_id})
    return out  # type: ignore[no-any-return]


def send_all(client: CollectorClient, upload_id: str, payload: bytes, chunk: int = 4096) -> None:
    off = 0
    while off < len(payload):
        client.json("PUT", f"{API}/uploads/{upload_id}", query=f"offset={off}", body_bytes=payload[off : off + chunk])
        off += chunk


def test_segment_lands_exactly_once_and_the_local_copy_goes(collector: LiveCollector, device: FleetDevice,
                                                            client: CollectorClient) -> None:
    seg = make_segment(device.home, events=2000, video_bytes=300_000)
    up = uploader(device, chunk_bytes=64 * 1024)
    stats = up.run_once()
    assert stats.landed == 1 and not seg.path.exists()
    assert not list((device.home.spool_dir / "outbox").iterdir())
    rows = collector.service.landed_rows()
    assert len(rows) == 1 and rows[0]["segment_id"] == seg.id and rows[0]["person_id"]
    blob = rows[0]["blob_uri"]
    assert blob.startswith("file://") and Path(blob[7:]).exists()
    # The landed blob is still sealed: only the landing key opens it, no plaintext inside.
    data = Path(blob[7:]).read_bytes()
    assert b"mouse_move" not in data and data.startswith(b"JSSEAL1")


def test_a_second_upload_of_the_same_content_is_acknowledged_not_duplicated(
        collector: LiveCollector, device: FleetDevice, client: CollectorClient, tmp_path: Path) -> None:
    seg = make_segment(device.home, events=300)
    copy = tmp_path / "copy.sealed"
    copy.write_bytes(seg.path.read_bytes())
    assert uploader(device).run_once().landed == 1
    # The device crashed before deleting its copy: the same segment comes round again.
    os.replace(copy, seg.path)
    assert uploader(device).run_once().landed == 1
    assert len(collector.service.landed_rows()) == 1
    assert not seg.path.exists()


def test_upload_resumes_from_the_offset_the_server_reports(collector: LiveCollector, device: FleetDevice,
                                                           client: CollectorClient) -> None:
    seg = make_segment(device.home, events=500, video_bytes=200_000)
    up = uploader(device, chunk_bytes=32 * 1024)
    item = up.prepare(seg)
    payload = item.payload_path(up.outbox).read_bytes()
    out = begin(client, payload, item.content_hash, item.segment_id)
    client.json("PUT", f"{API}/uploads/{out['upload_id']}", query="offset=0", body_bytes=payload[:50_000])
    again = begin(client, payload, item.content_hash, item.segment_id)
    assert again["upload_id"] == out["upload_id"] and again["received"] == 50_000
    with pytest.raises(RequestRejected) as exc:
        client.json("PUT", f"{API}/uploads/{out['upload_id']}", query="offset=0", body_bytes=payload[:10])
    assert exc.value.code == "offset_mismatch"
    up.deliver(item)  # picks up at 50,000
    assert [r["segment_id"] for r in collector.service.landed_rows()] == [seg.id]


def test_bad_uploads_are_refused_and_nothing_landed_is_affected(collector: LiveCollector, device: FleetDevice,
                                                                client: CollectorClient) -> None:
    uploader(device).run_once() if make_segment(device.home, events=100) else None
    before = landed_snapshot(collector)
    assert len(before) == 1
    landing_pub = device.identity.landing_public_key
    real = make_segment(device.home, events=200, session="aaaaaa")
    from jobshadow.spool.store import open_segment

    plain = open_segment(real.path, device.key)[0].plaintext
    real_hash = hashlib.sha256(plain).hexdigest()

    def attempt(payload: bytes, content_hash: str, segment_id: str, expect: str) -> None:
        out = begin(client, payload, content_hash, segment_id)
        send_all(client, out["upload_id"], payload)
        with pytest.raises(RequestRejected) as exc:
            client.json("POST", f"{API}/uploads/{out['upload_id']}/complete")
        assert exc.value.code == expect, (exc.value.code, str(exc.value))
        assert exc.value.status == 422
        assert landed_snapshot(collector) == before

    # wrong content hash
    attempt(seal_bytes(plain, landing_pub, real.id), "0" * 64, real.id, "content_hash_mismatch")
    # not MCAP at all
    attempt(seal_bytes(b"hello, not mcap" * 100, landing_pub, "seg-x"), hashlib.sha256(b"x").hexdigest(), "seg-x",
            "not_mcap")
    # truncated MCAP (no footer)
    cut = plain[: len(plain) // 2]
    attempt(seal_bytes(cut, landing_pub, real.id), hashlib.sha256(cut).hexdigest(), real.id, "not_mcap")
    # sealed to another key (a forged landing key)
    attempt(seal_bytes(plain, Recipient.generate().public_raw, real.id), real_hash, real.id, "not_decryptable")
    # segment id inside differs from the declared one
    attempt(seal_bytes(plain, landing_pub, "other-id"), real_hash, "other-id", "segment_id_mismatch")
    # the bytes are not what the payload hash says
    payload = seal_bytes(plain, landing_pub, real.id)
    out = begin(client, payload, real_hash, real.id)
    tampered = bytearray(payload)
    tampered[len(tampered) // 2] ^= 1
    send_all(client, out["upload_id"], bytes(tampered))
    with pytest.raises(RequestRejected) as exc:
        client.json("POST", f"{API}/uploads/{out['upload_id']}/complete")
    assert exc.value.code == "payload_hash_mismatch"
    assert landed_snapshot(collector) == before
    # and the genuine segment still lands afterwards
    assert uploader(device).run_once().landed == 1
    assert len(landed_snapshot(collector)) == 2


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"content_hash": "zz", "payload_sha256": "0" * 64, "size": 10, "segment_id": "s"}, "invalid_body"),
        ({"content_hash": "0" * 64, "payload_sha256": "0" * 64, "size": -1, "segment_id": "s"}, "invalid_body"),
        ({"content_hash": "0" * 64, "payload_sha256": "0" * 64, "size": 10, "segment_id": "../x"}, "invalid_body"),
        ({"content_hash": "0" * 64, "payload_sha256": "0" * 64, "size": 10, "segment_id": "s", "x": 1},
         "invalid_body"),
        ({"content_hash": "0" * 64, "payload_sha256": "0" * 64, "size": 10**12, "segment_id": "s"}, "too_large"),
    ],
)
def test_malformed_begin_requests(client: CollectorClient, body: dict[str, Any], code: str) -> None:
    with pytest.raises(RequestRejected) as exc:
        client.json("POST", f"{API}/uploads", body)
    assert exc.value.code == code and 400 <= exc.value.status < 500


def test_oversized_chunk_and_overrun_are_refused(collector: LiveCollector, client: CollectorClient) -> None:
    out = begin(client, b"x" * 100, "1" * 64, "seg-1")
    big = b"x" * (collector.settings.server.max_chunk_bytes + 1)
    with pytest.raises(RequestRejected) as exc:
        client.json("PUT", f"{API}/uploads/{out['upload_id']}", query="offset=0", body_bytes=big)
    assert (exc.value.status, exc.value.code) == (413, "too_large")
    with pytest.raises(RequestRejected) as exc:
        client.json("PUT", f"{API}/uploads/{out['upload_id']}", query="offset=0", body_bytes=b"x" * 101)
    assert exc.value.code == "too_much_data"
    with pytest.raises(RequestRejected) as exc:
        client.json("POST", f"{API}/uploads/{out['upload_id']}/complete")
    assert exc.value.code == "incomplete"


def test_another_devices_upload_is_invisible(collector: LiveCollector, client: CollectorClient,
                                             tmp_path: Path) -> None:
    from jobshadow.testing.fleet import enrol_device

    out = begin(client, b"x" * 10, "2" * 64, "seg-2")
    other = enrol_device(collector, tmp_path / "other", "mallory@example.com")
    with CollectorClient(collector.url, other.identity) as c2:
        with pytest.raises(RequestRejected) as exc:
            c2.json("GET", f"{API}/uploads/{out['upload_id']}")
        assert exc.value.status == 404


def test_kill_switch_and_withdrawal_stop_uploads(collector: LiveCollector, device: FleetDevice,
                                                 client: CollectorClient) -> None:
    from jobshadow.errors import Transient

    make_segment(device.home, events=100)
    collector.admin.pause_programme("incident", by="ciso@example.com")
    with pytest.raises(Transient) as exc:
        uploader(device).run_once()
    assert "programme_paused" in str(exc.value)
    collector.admin.resume_programme(by="ciso@example.com")
    collector.admin.set_consent("alice@example.com", "withdrawn", "server", by="person:hr@example.com")
    up = uploader(device)
    stats = up.run_once()
    assert stats.landed == 0 and stats.quarantined == 1
    reason = next((device.home.spool_dir / "quarantine").glob("*.reason.txt")).read_text()
    assert "consent_withdrawn" in reason
    assert collector.service.landed_rows() == []


def test_openapi_errors_and_metrics(collector: LiveCollector) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", collector.port, timeout=10)
    conn.request("GET", "/openapi.json")
    spec = json.loads(conn.getresponse().read())
    assert spec["openapi"].startswith("3.") and f"{API}/uploads" in spec["paths"]
    conn.request("GET", "/nope")
    r = conn.getresponse()
    assert r.status == 404 and json.loads(r.read())["error"]["code"] == "not_found"
    conn.request("POST", f"{API}/enroll", body=b"{not json", headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    assert r.status == 400 and json.loads(r.read())["error"]["code"] == "invalid_json"
    conn.request("POST", f"{API}/enroll", body=b"x" * 100_000)
    r = conn.getresponse()
    assert r.status == 413
    r.read()
    conn.request("GET", "/metrics")  # never on the collector's own port (issue 12)
    r = conn.getresponse()
    assert r.status == 404 and json.loads(r.read())["error"]["code"] == "not_found"
    conn.close()


def test_metrics_are_served_only_on_their_loopback_port(tmp_path: Path) -> None:
    import http.client

    from jobshadow.testing.fleet import free_port

    port = free_port()
    collector = LiveCollector(tmp_path / "server", metrics_port=str(port))
    try:
        conn = http.client.HTTPConnection("127.0.0.1", collector.port, timeout=10)
        conn.request("POST", f"{API}/enroll", body=b"{not json", headers={"Content-Type": "application/json"})
        conn.getresponse().read()
        conn.close()
        scrape = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        scrape.request("GET", "/metrics")
        r = scrape.getresponse()
        text = r.read().decode()
        assert r.status == 200 and 'jobshadow_rejections_total{code="invalid_json"} 1.0' in text
        assert "jobshadow_requests_total" in text
        scrape.request("GET", "/")
        r = scrape.getresponse()
        assert r.status == 404 and json.loads(r.read())["error"]["code"] == "not_found"
        scrape.close()
    finally:
        collector.stop()
    with pytest.raises(OSError):  # gone with the collector
        http.client.HTTPConnection("127.0.0.1", port, timeout=2).request("GET", "/metrics")


def test_concurrent_and_retried_completions_land_one_row(collector: LiveCollector, device: FleetDevice,
                                                         client: CollectorClient) -> None:
    """A client whose connection drops while it waits for the commit retries `complete`; the
    retry must wait for the same commit, never submit the row again."""
    import threading

    seg = make_segment(device.home, events=400)
    up = uploader(device)
    item = up.prepare(seg)
    payload = item.payload_path(up.outbox).read_bytes()
    out = begin(client, payload, item.content_hash, item.segment_id)
    send_all(client, out["upload_id"], payload, chunk=len(payload))
    results: list[str] = []

    def complete() -> None:
        with CollectorClient(collector.url, device.identity) as c:
            _, _, done = c.json("POST", f"{API}/uploads/{out['upload_id']}/complete")
            results.append(done["state"])

    threads = [threading.Thread(target=complete) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["landed"] * 5
    assert len(collector.service.landed_rows()) == 1
