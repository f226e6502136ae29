"""Enrolment, request signatures, the privacy-review gate, scope distribution, kill switch, consent."""

from __future__ import annotations

import http.client
import json
import threading
import time
from pathlib import Path

import pytest

from jobshadow.device_api import DeviceConfig, Programme
from jobshadow.errors import InputError, RequestRejected
from jobshadow.govern.audit import AuditLog
from jobshadow.protocol import sign_request
from jobshadow.testing.fleet import FleetDevice, LiveCollector, enrol_device
from jobshadow.testing.poll import wait_for
from jobshadow.upload.client import CollectorClient
from jobshadow.upload.identity import check_server_url, enroll

_open_clients: list[CollectorClient] = []


def request_closing(client: CollectorClient) -> None:
    _open_clients.append(client)


@pytest.fixture(autouse=True)
def _close_clients() -> object:
    yield
    while _open_clients:
        _open_clients.pop().close()


def raw_get(c: LiveCollector, target: str, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", c.port, timeout=10)
    conn.request("GET", target, headers=headers)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, json.loads(body) if body else {}


def test_enrolment_code_is_one_time_and_bound_to_a_person(collector: LiveCollector, tmp_path: Path) -> None:
    code, expires = collector.admin.create_enroll_code("Bob@Example.com", by="person:admin@example.com")
    assert expires > time.time()
    from jobshadow.home import Home

    ident = enroll(Home(tmp_path / "d1"), collector.url, code)
    assert ident.person == "bob@example.com"
    with pytest.raises(RequestRejected) as exc:
        enroll(Home(tmp_path / "d2"), collector.url, code)
    assert exc.value.code == "code_used"
    with pytest.raises(RequestRejected) as exc:
        enroll(Home(tmp_path / "d3"), collector.url, "NOPE-NOPE-NOPE")
    assert exc.value.code == "invalid_code"
    assert (tmp_path / "d1" / "keys" / "device.pem").stat().st_mode & 0o077 == 0


def test_expired_code_is_refused(collector: LiveCollector, tmp_path: Path) -> None:
    from jobshadow.govern.control import tables
    from jobshadow.home import Home

    code, _ = collector.admin.create_enroll_code("carol@example.com", by="person:admin@example.com")
    with collector.service.engine.begin() as c:
        c.execute(tables.enroll_codes.update().values(expires_at=time.time() - 1))
    with pytest.raises(RequestRejected) as exc:
        enroll(Home(tmp_path / "d"), collector.url, code)
    assert exc.value.code == "code_expired"


def test_plain_http_only_to_loopback() -> None:
    assert check_server_url("http://127.0.0.1:8787/") == "http://127.0.0.1:8787"
    assert check_server_url("https://collector.example.com") == "https://collector.example.com"
    with pytest.raises(InputError, match="https"):
        check_server_url("http://collector.example.com")


def test_unsigned_forged_replayed_stale_and_revoked_requests_are_refused(collector: LiveCollector,
                                                                         device: FleetDevice) -> None:
    target = "/v1/device/config?wait=0"
    ident = device.identity
    assert raw_get(collector, target, {})[1]["error"]["code"] == "unsigned"  # type: ignore[index]
    good = sign_request(ident.key, ident.device_id, "GET", target, b"")
    assert raw_get(collector, target, good)[0] == 200
    status, body = raw_get(collector, target, good)  # the same headers again
    assert (status, body["error"]["code"]) == (401, "replayed_request")  # type: ignore[index]
    forged = {**sign_request(ident.key, ident.device_id, "GET", "/v1/device/config?wait=1", b"")}
    assert raw_get(collector, target, forged)[1]["error"]["code"] == "bad_signature"  # type: ignore[index]
    stale = sign_request(ident.key, ident.device_id, "GET", target, b"", now=time.time() - 3600)
    assert raw_get(collector, target, stale)[1]["error"]["code"] == "stale_request"  # type: ignore[index]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    impostor = sign_request(Ed25519PrivateKey.generate(), ident.device_id, "GET", target, b"")
    assert raw_get(collector, target, impostor)[1]["error"]["code"] == "bad_signature"  # type: ignore[index]
    unknown = sign_request(ident.key, "0" * 16, "GET", target, b"")
    assert raw_get(collector, target, unknown)[1]["error"]["code"] == "unknown_device"  # type: ignore[index]
    collector.admin.revoke_device(ident.device_id, by="person:admin@example.com")
    status, body = raw_get(collector, target, sign_request(ident.key, ident.device_id, "GET", target, b""))
    assert (status, body["error"]["code"]) == (403, "device_revoked")  # type: ignore[index]


LEAD, DPO, OTHER = "person:lead@example.com", "person:dpo@example.com", "person:other@example.com"


def test_scope_needs_an_approved_unexpired_review_of_its_exact_version(collector: LiveCollector) -> None:
    svc = collector.admin
    svc.create_scope("office", {"apps": ["xterm"], "purposes": ["model_training"], "retention_days": 30}, by=LEAD)
    with pytest.raises(RequestRejected, match="no approved"):
        svc.activate_scope("office", by=LEAD)
    rid = svc.submit_review("office", by=OTHER)
    with pytest.raises(RequestRejected) as exc:  # the scope's author
        svc.decide_review(rid, True, LEAD)
    assert exc.value.code == "self_review"
    with pytest.raises(RequestRejected) as exc:  # the review's submitter
        svc.decide_review(rid, True, "OTHER@example.com")
    assert exc.value.code == "self_review"
    svc.decide_review(rid, False, DPO)
    with pytest.raises(RequestRejected):
        svc.activate_scope("office", by=LEAD)
    rid = svc.submit_review("office", by=LEAD)
    svc.decide_review(rid, True, DPO, valid_for=2.0)
    svc.activate_scope("office", by=LEAD)
    assert svc.active_scope()["name"] == "office"  # type: ignore[index]
    # A changed scope is a new version: it deactivates and needs a new review.
    svc.create_scope("office", {"apps": ["xterm", "chromium"]}, by=LEAD)
    assert svc.active_scope() is None
    with pytest.raises(RequestRejected):
        svc.activate_scope("office", by=LEAD)
    rid = svc.submit_review("office", by=LEAD)
    shown = svc.review(rid)  # what the reviewer approves, exactly: the version and the change
    assert shown["version"] == 2 and shown["author"] == LEAD
    assert shown["diff"] == ["apps: +chromium", "retention_days: 30 -> 90"]
    assert shown["definition"]["apps"] == ["xterm", "chromium"] and shown["previous"]["apps"] == ["xterm"]
    svc.decide_review(rid, True, DPO, valid_for=1.0)
    svc.activate_scope("office", by=LEAD)
    # The review expires a second after approval: the scope deactivates itself.
    wait_for(lambda: svc.active_scope() is None, 10, "the expired review to deactivate the scope")
    # Refusals name who tried, in the audit log.
    log = AuditLog(collector.settings.home / "server" / "audit.db", readonly=True)
    try:
        denied = [(r.principal, r.action) for _, r in log.query(decision="deny")]
    finally:
        log.close()
    assert (LEAD, "review.approve") in denied and (LEAD, "scope.activate") in denied


@pytest.mark.parametrize("bad", [
    {"apps": []}, {"apps": ["x"], "streams": ["microphone"]}, {"apps": ["x"], "deny_titles": ["(oops"]},
    {"apps": ["x"], "retention_days": 0}, {"apps": ["x"], "colour": "blue"},
    # Checked where the scope is defined: only registered purposes, none forbidden, no catch-alls.
    {"apps": ["xterm"], "purposes": ["performance_evaluation"]}, {"apps": ["xterm"], "purposes": ["marketing"]},
    {"apps": ["*"]}, {"apps": ["xterm", "?*"]}, {"apps": ["[a-z]*"]}, {"apps": ["x*"]},
    {"apps": ["xterm"], "streams": []},
])
def test_invalid_scopes_are_refused_when_defined(collector: LiveCollector, bad: dict[str, object]) -> None:
    with pytest.raises(RequestRejected) as exc:
        collector.admin.create_scope("s", bad, by=LEAD)
    assert exc.value.code == "invalid_scope"
    assert collector.admin.scopes() == []


def test_a_scope_name_must_be_a_name(collector: LiveCollector) -> None:
    with pytest.raises(RequestRejected):
        collector.admin.create_scope("../etc", {"apps": ["xterm"]}, by=LEAD)


def test_devices_see_a_new_scope_and_the_kill_switch_within_seconds(collector: LiveCollector,
                                                                    device: FleetDevice) -> None:
    client = CollectorClient(collector.url, device.identity)
    request_closing(client)
    first = client.device_config(None, 0)
    assert first is not None and first.scope is None and first.programme.state == "running"
    results: dict[str, object] = {}

    def poll() -> None:
        t0 = time.monotonic()
        results["cfg"] = client.device_config(first.etag, 15)
        results["s"] = time.monotonic() - t0

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.5)  # the change comes while the device's long poll is held (what is tested)
    collector.approve_scope("work", apps=("xterm",))
    t.join()
    cfg = results["cfg"]
    assert isinstance(cfg, DeviceConfig) and cfg.scope is not None and cfg.scope.name == "work"
    assert results["s"] < 5  # type: ignore[operator]
    t = threading.Thread(target=poll)
    first = cfg  # type: ignore[assignment]
    t.start()
    time.sleep(0.5)  # as above: the kill switch reaches a poll already waiting
    collector.admin.pause_programme("security incident 7", by="ciso@example.com")
    t.join()
    cfg = results["cfg"]
    assert isinstance(cfg, DeviceConfig) and cfg.programme == Programme("paused", "security incident 7")
    assert cfg.upload.allowed is False
    assert results["s"] < 5  # type: ignore[operator]
    assert collector.service.landing.quarantined()
    collector.admin.resume_programme(by="ciso@example.com")
    assert not collector.service.landing.quarantined()
    assert client.device_config(None, 0).programme.state == "running"  # type: ignore[union-attr]
    # Both levers were audited, and the audit log verifies.
    log = AuditLog(collector.settings.home / "server" / "audit.db", readonly=True)
    try:
        actions = [r.action for _, r in log.query()]
    finally:
        log.close()
    assert "programme.pause" in actions and "programme.resume" in actions


def test_consent_mirror_both_ways(collector: LiveCollector, device: FleetDevice) -> None:
    client = CollectorClient(collector.url, device.identity)
    request_closing(client)
    client.report_consent("given")
    assert client.device_config(None, 0).consent.state == "given"  # type: ignore[union-attr]
    collector.admin.set_consent("alice@example.com", "withdrawn", "server", by="hr-mailbox@example.com")
    cfg = client.device_config(None, 0)
    assert cfg is not None and cfg.consent.state == "withdrawn" and not cfg.upload.allowed


@pytest.mark.parametrize("email", ["ceo@example.com", "intern@example.com", "vp.engineering@example.com",
                                   "contractor@partner.example"])
def test_same_controls_for_every_person(collector: LiveCollector, tmp_path: Path, email: str) -> None:
    """Kill switch, consent withdrawal and revocation apply to everyone alike: there is no
    attribute of a person the control plane could exempt (and the schema has none)."""
    from jobshadow.govern.control import tables

    assert {c.name for c in tables.people.columns} == {"id", "email", "consent_state", "consent_changed_at",
                                                       "consent_source", "created_at"}
    dev = enrol_device(collector, tmp_path / "dev", email)
    client = CollectorClient(collector.url, dev.identity)
    request_closing(client)
    collector.approve_scope("work", apps=("xterm",))
    collector.admin.pause_programme("drill", by="admin@example.com")
    assert client.device_config(None, 0).upload.allowed is False  # type: ignore[union-attr]
    collector.admin.resume_programme(by="admin@example.com")
    collector.admin.set_consent(email, "withdrawn", "server", by="person:hr@example.com")
    assert client.device_config(None, 0).consent.state == "withdrawn"  # type: ignore[union-attr]
    collector.admin.revoke_device(dev.identity.device_id, by="person:admin@example.com")
    with pytest.raises(RequestRejected) as exc:
        client.device_config(None, 0)
    assert exc.value.code == "device_revoked"
