"""Integrity at landing (issue 12): whose a segment is, which scope it was captured under, which keys
the collector holds.

* A segment id belongs to the device that landed it first: another device reusing it is refused
  (in one request or chunked), and curation never replaces the first person's events.
* A segment's purposes and retention are those of the scope version it was captured under, as
  stamped by the device, never those of the scope active when it arrives.
* The collector opens no key but the landing key: after enrolment, configuration, a consent
  report and an upload, the server's key folder holds the landing key alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jobshadow.config import UploadSettings
from jobshadow.govern.audit import AuditLog
from jobshadow.testing.fleet import FleetDevice, LiveCollector, enrol_device, make_segment
from jobshadow.upload.client import CollectorClient
from jobshadow.upload.uploader import Uploader


def upload(device: FleetDevice) -> Any:
    up = Uploader(device.home, UploadSettings(auto_approve_after=0, bandwidth_bytes_per_s=0), device.identity,
                  device.key)
    try:
        return up.run_once()
    finally:
        up.close()


@pytest.mark.parametrize("video_bytes", [0, 6 * 2**20], ids=["one request", "chunked"])
def test_a_segment_id_belongs_to_the_device_that_landed_it_first(collector: LiveCollector, tmp_path: Path,
                                                                 video_bytes: int) -> None:
    collector.approve_scope()
    alice = enrol_device(collector, tmp_path / "alice", "alice@example.com")
    mallory = enrol_device(collector, tmp_path / "mallory", "mallory@example.com")
    seg = make_segment(alice.home, events=30, text="alice's own words", scope=collector.scope)
    assert upload(alice).landed == 1
    make_segment(mallory.home, events=30, text="mallory's words", scope=collector.scope, segment=seg.id,
                 video_bytes=video_bytes)
    stats = upload(mallory)
    assert stats.landed == 0 and stats.quarantined == 1  # refused for good: a 4xx
    rows = collector.service.landed_rows()
    assert [(r["segment_id"], r["person_id"]) for r in rows] == [(seg.id, alice.identity.person_id)]
    assert not any(p.name.endswith(".part") for p in (collector.settings.home / "server" / "staging").iterdir())


def test_curation_never_replaces_another_person_s_events(collector: LiveCollector, tmp_path: Path) -> None:
    """Even for a collision that reached the landing table behind the collector's back (or from
    before the check existed), curating one person's segment never deletes another's rows."""
    from datetime import UTC, datetime

    from jobshadow.curate import curate
    from jobshadow.govern import PIPELINE, Governance
    from jobshadow.govern.landing import LandingZone
    from jobshadow.testing.lake import quiet_kill_switch

    collector.approve_scope()
    alice = enrol_device(collector, tmp_path / "alice", "alice@example.com")
    bob = enrol_device(collector, tmp_path / "bob", "bob@example.com")
    seg = make_segment(alice.home, events=30, text="alice's own words", scope=collector.scope)
    assert upload(alice).landed == 1
    with Governance(quiet_kill_switch(collector.settings)) as gov:
        assert curate(gov).curated == 1
        # Bob's segment with Alice's segment id, put straight into the landing zone.
        up = Uploader(bob.home, UploadSettings(auto_approve_after=0, bandwidth_bytes_per_s=0), bob.identity, bob.key)
        try:
            item = up.prepare(make_segment(bob.home, events=30, text="bob's words", scope=collector.scope,
                                           segment=seg.id))
            payload = item.payload_path(up.outbox).read_bytes()
        finally:
            up.close()
        landing = LandingZone(gov.storage)
        first = landing.scan_rows()[0]
        uri = landing.store_blob_bytes(payload, "landing/collider.sealed")
        landing.append([{**first, "content_hash": item.content_hash, "payload_sha256": item.payload_sha256,
                         "device_id": bob.identity.device_id, "person_id": bob.identity.person_id, "blob_uri": uri,
                         "landed_at": datetime.now(UTC)}], "test-collider")
        assert curate(gov).curated == 1
        events = gov.read(PIPELINE, "processing", "curated.events", ["subject", "segment_id"]).data.to_pylist()
    owners = {e["subject"] for e in events if e["segment_id"] == seg.id}
    assert owners == {gov.keys.pseudonym(alice.identity.person_id), gov.keys.pseudonym(bob.identity.person_id)}


def test_purposes_and_retention_are_those_of_the_scope_version_captured_under(collector: LiveCollector,
                                                                             tmp_path: Path) -> None:
    v1 = collector.approve_scope("office", purposes=["model_training"], retention_days=30)
    device = enrol_device(collector, tmp_path / "dev", "alice@example.com")
    admin = collector.admin
    # Redefined (shorter retention), reviewed by someone else, activated: version 2 is active.
    v2 = collector.approve_scope("office", purposes=["model_training"], retention_days=7)
    assert v2 == ("office", 2)
    draft = admin.create_scope("office", {"apps": ["xterm"], "retention_days": 1}, by="person:lead@example.com")
    v3 = ("office", int(draft["version"]))  # defined, never reviewed or activated
    admin.deactivate_scope("office", by="person:lead@example.com")  # and nothing is active on arrival
    made = {"v1": make_segment(device.home, events=10, scope=v1, index=1),
            "v2": make_segment(device.home, events=10, scope=v2, index=2),
            "v3": make_segment(device.home, events=10, scope=v3, index=3),
            "none": make_segment(device.home, events=10, index=4)}
    client = CollectorClient(collector.url, device.identity)
    try:
        client.report_consent("given")
    finally:
        client.close()
    assert upload(device).landed == 4
    rows = {r["segment_id"]: r for r in collector.service.landed_rows()}
    got = {k: (rows[s.id]["scope_name"], rows[s.id]["scope_version"], json.loads(rows[s.id]["purposes"]),
               rows[s.id]["retention_days"]) for k, s in made.items()}
    assert got == {"v1": ("office", 1, ["model_training"], 30), "v2": ("office", 2, ["model_training"], 7),
                   "v3": (None, None, [], None), "none": (None, None, [], None)}


def test_the_collector_opens_no_key_but_the_landing_key(tmp_path: Path) -> None:
    home = tmp_path / "server"
    outside = {"JOBSHADOW_GOVERN__AUDIT_SIGNER": f"file:{tmp_path / 'hsm' / 'audit.pem'}",
               "JOBSHADOW_GOVERN__KEK_FILE": str(tmp_path / "kms" / "kek.key")}
    (tmp_path / "hsm").mkdir(mode=0o700)
    (tmp_path / "kms").mkdir(mode=0o700)
    collector = LiveCollector(home, environ=outside)
    try:
        collector.approve_scope()  # host maintenance (the door's part): signs with the key kept outside
        device = enrol_device(collector, tmp_path / "device", "dana@example.com")
        client = CollectorClient(collector.url, device.identity)
        try:
            client.report_consent("given")
            cfg = client.device_config(None, 0)
            assert cfg is not None and cfg.scope is not None and cfg.scope.name == "work" and cfg.upload.allowed
        finally:
            client.close()
        make_segment(device.home, events=20, scope=collector.scope)
        assert upload(device).landed == 1
    finally:
        collector.stop()
    assert sorted(p.name for p in (home / "server" / "keys").iterdir()) == ["landing.key"]
    assert not (tmp_path / "kms" / "kek.key").exists()  # nothing needed a person's data key
    log = AuditLog(home / "server" / "audit.db", readonly=True)
    try:
        consent = [r for _, r in log.query() if r.action == "consent.given"]
    finally:
        log.close()
    assert [r.principal for r in consent] == [f"device:{device.identity.device_id}"]
