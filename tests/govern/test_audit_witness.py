"""Witnesses: an operator holding the signing key can no longer rewrite or cut back the audit log.

Real witnesses (HTTP on loopback, their own keys and state directories), a real log and its
publisher; the operator's attacks are done the way an operator could: by building another log
file with the same key and putting it in place, re-signed.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from jobshadow.errors import ConfigError
from jobshadow.govern.audit import AuditKeyError, AuditLog, AuditRecord, AuditWriteError, verify_log
from jobshadow.govern.audit import publisher as publisher_mod
from jobshadow.govern.audit import witness as witness_mod
from jobshadow.govern.audit.heads import log_verifier_key
from jobshadow.govern.audit.note import (
    COSIGNATURE_V1,
    Note,
    VerifierKey,
    cosign,
    parse_note,
    verify_cosignature,
)
from jobshadow.govern.audit.publisher import HeadPublisher
from jobshadow.govern.audit.signer import CommandSigner
from jobshadow.govern.audit.witness import Submission, Witness, WitnessRefusal
from jobshadow.govern.audit.witness_client import WitnessRef, latest
from jobshadow.govern.audit.witness_http import WitnessServer
from jobshadow.govern.audit.witnessed import WitnessReport, default_quorum, fetch, judge
from jobshadow.testing.poll import wait_for

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def rec(i: int, **over: Any) -> AuditRecord:
    fields: dict[str, Any] = {"principal": f"person:u{i % 3}@example.com", "action": "read",
                              "resource": "table:curated.events", "purpose": "model_training",
                              "decision": "allow", "detail": {"rows": i}, "time": T0 + timedelta(seconds=i)}
    fields.update(over)
    return AuditRecord.create(**fields)


class Setup:
    """A log, its key, N witnesses serving on loopback and a publisher pushing to them."""

    def __init__(self, tmp: Path, witnesses: int) -> None:
        self.tmp = tmp
        self.key = Ed25519PrivateKey.generate()
        self.path = tmp / "audit.db"
        self.heads_dir = tmp / "heads"
        self.heads_dir.mkdir()
        self.log = AuditLog(self.path, signing_key=self.key)
        self.vkey = log_verifier_key(self.key.public_key())
        self.servers: list[WitnessServer] = []
        self.refs: list[WitnessRef] = []
        for i in range(witnesses):
            w = Witness.init(tmp / f"witness{i}", f"w{i}.example/audit", self.vkey)
            server = WitnessServer(w).start()
            self.servers.append(server)
            self.refs.append(WitnessRef(w.vkey, server.url))
        self.publisher = HeadPublisher(self.log, self.heads_dir, self.refs, interval=0.2, timeout=5.0)

    def append(self, start: int, end: int) -> None:
        self.log.append_many([rec(i) for i in range(start, end)])
        self.publisher.appended(end - start)

    def check(self, quorum: int | None = None) -> WitnessReport:
        need = default_quorum(quorum or 0, len(self.refs))
        seen = fetch(self.refs, self.vkey, timeout=5.0)
        sizes = [got.head.tree_size for _, got in seen if got is not None and not isinstance(got, str)]
        report = verify_log(self.path, self.key.public_key(), roots_at=sizes)
        return judge(self.path, seen, report, need)

    def close(self) -> None:
        self.publisher.close()
        self.log.close()
        for s in self.servers:
            s.stop()


@pytest.fixture
def setup3(tmp_path: Path) -> Iterator[Setup]:
    s = Setup(tmp_path, 3)
    try:
        yield s
    finally:
        s.close()


def rewrite(s: Setup, records: list[AuditRecord]) -> None:
    """What an operator with the key can do: a new log file with these records, heads re-signed."""
    s.publisher.close()
    s.log.close()
    forged = s.tmp / "forged.db"
    with AuditLog(forged, signing_key=s.key) as log:
        for i in range(0, len(records), 7):
            log.append_many(records[i : i + 7])
            log.publish_head()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{s.path}{suffix}").unlink(missing_ok=True)
    shutil.copy(forged, s.path)


def original(n: int) -> list[AuditRecord]:
    return [rec(i) for i in range(n)]


# --- notes, keys, cosignatures -----------------------------------------------------------------
def test_verifier_keys_and_cosignatures_follow_c2sp() -> None:
    key = Ed25519PrivateKey.generate()
    vkey = VerifierKey("w.example/a", COSIGNATURE_V1, key.public_key())
    assert VerifierKey.parse(str(vkey)) == vkey
    name, hexid, _ = str(vkey).split("+", 2)
    assert name == "w.example/a" and len(hexid) == 8
    with pytest.raises(AuditKeyError, match="does not match"):
        VerifierKey.parse(str(vkey).replace(f"+{hexid}+", "+00000000+"))
    text = "origin\n5\nAAAA\n"
    sig = cosign(vkey.name, key, text, 1_700_000_000)
    note = parse_note(text + "\n" + sig.line())
    assert verify_cosignature(note, vkey) == 1_700_000_000
    assert sig.line().startswith("\u2014 w.example/a ")
    with pytest.raises(Exception, match="does not verify"):
        verify_cosignature(Note("origin\n6\nAAAA\n", note.signatures), vkey)


def test_a_head_is_a_checkpoint_note_the_log_signed() -> None:
    key = Ed25519PrivateKey.generate()
    from jobshadow.govern.audit import sign_head
    from jobshadow.govern.audit.heads import SignedTreeHead

    head = sign_head(key, 3, b"\x01" * 32, T0)
    vkey = log_verifier_key(key.public_key())
    text = head.to_note(key.public_key()).render()
    assert text.splitlines()[0] == vkey.name and text.splitlines()[1] == "3"
    assert SignedTreeHead.from_note(parse_note(text), vkey) == head
    other = log_verifier_key(Ed25519PrivateKey.generate().public_key())
    with pytest.raises(Exception, match="no signature"):
        SignedTreeHead.from_note(parse_note(text), other)


# --- the witness refuses what does not extend what it cosigned -----------------------------------
def test_a_witness_refuses_inconsistent_heads_and_keeps_the_evidence(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    vkey = log_verifier_key(key.public_key())
    w = Witness.init(tmp_path / "w", "w.example/audit", vkey)
    w.lock()
    with AuditLog(tmp_path / "a.db", signing_key=key) as log:
        log.append_many(original(10))
        head = log.publish_head()
        line = w.add_checkpoint(Submission(0, tuple(log.leaf_hashes(0, 10)),
                                           head.to_note(key.public_key()).render()).encode())
        assert verify_cosignature(parse_note(head.to_note(key.public_key()).render() + line), w.vkey) > 0
        assert w.size == 10

    # The operator rewrites record 4 and extends the log: signed by the right key, refused all the same.
    with AuditLog(tmp_path / "b.db", signing_key=key) as forged:
        forged.append_many([*original(4), rec(4, principal="person:nobody@example.com"), *original(15)[5:]])
        fhead = forged.publish_head()
        fnote = fhead.to_note(key.public_key()).render()
        with pytest.raises(WitnessRefusal) as exc:
            w.add_checkpoint(Submission(10, tuple(forged.leaf_hashes(10, 15)), fnote).encode())
        assert exc.value.status == 422
        # Pretending the witness is elsewhere: 409 with its size.
        with pytest.raises(WitnessRefusal) as exc:
            w.add_checkpoint(Submission(0, tuple(forged.leaf_hashes(0, 15)), fnote).encode())
        assert exc.value.status == 409 and exc.value.size == 10
        # A fork at the witness's own size.
        fork = forged.sign_head(10)
        with pytest.raises(WitnessRefusal) as exc:
            w.add_checkpoint(Submission(10, (), fork.to_note(key.public_key()).render()).encode())
        assert exc.value.status == 409
    # Signed by another key, or for another log.
    stranger = Ed25519PrivateKey.generate()
    with AuditLog(tmp_path / "c.db", signing_key=stranger) as other:
        other.append_many(original(12))
        onote = other.publish_head().to_note(stranger.public_key())
        with pytest.raises(WitnessRefusal) as exc:
            w.add_checkpoint(Submission(10, tuple(other.leaf_hashes(10, 12)), onote.render()).encode())
        assert exc.value.status == 404
        spoofed = Note(fnote.split("\n\n")[0] + "\n", onote.signatures)
        with pytest.raises(WitnessRefusal) as exc:
            w.add_checkpoint(Submission(10, (), spoofed.render()).encode())
        assert exc.value.status == 403
    assert w.size == 10  # nothing refused changed its state
    assert w.status()["evidence"] == 2  # the rewrite and the fork, each log-signed
    w.close()
    again = Witness(tmp_path / "w")  # state survives a restart
    assert again.size == 10 and again.latest() == w.latest()


# --- end to end: publisher, witnesses, verification ----------------------------------------------
def witnessed_sizes(s: Setup) -> list[int]:
    return [(c.head.tree_size if (c := latest(r, s.vkey)) else 0) for r in s.refs]


def test_heads_are_signed_and_witnessed_within_the_interval_while_records_arrive(setup3: Setup) -> None:
    s = setup3
    for n in range(0, 30, 10):
        s.append(n, n + 10)
        # No explicit publication: the publisher's thread signs and pushes within its interval.
        wait_for(lambda n=n: witnessed_sizes(s) == [n + 10] * 3)
    report = s.check()
    assert report.ok and report.confirmed == 3 and report.witnessed_size == 30
    notes = sorted(s.heads_dir.glob("*.note"))
    assert notes, "cosigned checkpoints are published beside the heads"
    cosigned = parse_note(notes[-1].read_text())
    for ref in s.refs:
        verify_cosignature(cosigned, ref.vkey)


def test_records_appended_by_a_process_without_the_key_are_signed_and_witnessed(setup3: Setup) -> None:
    """The collector appends with no signing key; the door's publisher signs what it finds."""
    s = setup3
    with AuditLog(s.path) as collector:  # another writer, no key
        collector.append_many(original(9))
    wait_for(lambda: witnessed_sizes(s) == [9] * 3)
    assert s.check().ok


def test_quorum_counts_witnesses_that_confirm(setup3: Setup) -> None:
    s = setup3
    s.append(0, 12)
    s.publisher.publish()
    assert s.check(quorum=3).ok
    s.servers[2].stop()
    two = s.check(quorum=2)
    assert two.ok and two.confirmed == 2
    assert [v.state for v in two.views] == ["confirmed", "confirmed", "unreachable"]
    assert not s.check(quorum=3).ok
    s.servers[1].stop()
    one = s.check()  # default: a majority of three
    assert one.quorum == 2 and not one.ok
    assert "witness_quorum" in {p.kind for p in one.problems()}


def test_a_full_rewrite_resigned_by_the_operator_fails_against_the_witnesses(setup3: Setup) -> None:
    s = setup3
    s.append(0, 40)
    s.publisher.publish()
    s.append(40, 50)
    s.publisher.publish()
    records = original(50)
    records[23] = rec(23, principal="person:someone-else@example.com")  # the record someone wants gone
    rewrite(s, records)
    # The operator's own signatures are all consistent: alone, they cannot tell.
    assert verify_log(s.path, s.key.public_key()).ok
    report = s.check()
    assert not report.ok
    assert [v.state for v in report.views] == ["rewritten"] * 3
    assert report.first_difference is not None and report.first_difference.index == 23
    assert "someone-else" in report.first_difference.log_holds
    # Nor will the witnesses cosign the rewritten log as it grows.
    with AuditLog(s.path, signing_key=s.key) as log:
        log.append_many([rec(i) for i in range(50, 55)])
        pub = HeadPublisher(log, s.heads_dir, s.refs, interval=60)
        pub.publish()
        pub.close()
    assert witnessed_sizes(s) == [50] * 3
    assert all(Witness(s.tmp / f"witness{i}").status()["evidence"] >= 1 for i in range(3))


def test_dropping_the_newest_records_is_detected(setup3: Setup) -> None:
    s = setup3
    s.append(0, 30)
    s.publisher.publish()
    rewrite(s, original(26))  # the last four records dropped, heads re-signed up to 26
    assert verify_log(s.path, s.key.public_key()).ok
    report = s.check()
    assert [v.state for v in report.views] == ["truncated"] * 3
    assert report.first_difference is not None and report.first_difference.index == 26
    assert "ends after 26" in report.first_difference.log_holds


def test_a_late_witness_is_caught_up_in_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(publisher_mod, "MAX_LEAVES", 16)
    s = Setup(tmp_path, 0)
    try:
        s.append(0, 70)
        s.publisher.publish()
        w = Witness.init(tmp_path / "late", "late.example/audit", s.vkey)
        server = WitnessServer(w).start()
        try:
            ref = WitnessRef(w.vkey, server.url)
            pub = HeadPublisher(s.log, s.heads_dir, [ref], interval=60)
            pub.appended(1)
            pub.publish()
            pub.close()
            assert w.size == 70
            assert w.leaf_hashes(0, 70) == b"".join(s.log.leaf_hashes(0, 70))
        finally:
            server.stop()
    finally:
        s.close()
    assert witness_mod.MAX_LEAVES >= 16


# --- who signs ---------------------------------------------------------------------------------
SIGNER = """
import base64, sys
from cryptography.hazmat.primitives import serialization
key = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), None)
if sys.argv[-1] == "public-key":
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    print(base64.b64encode(raw).decode())
elif sys.argv[-1] == "sign":
    sig = key.sign(sys.stdin.buffer.read())
    print(base64.b64encode(sig[::-1] if "garble" in sys.argv else sig).decode())
"""


def test_a_kms_behind_a_command_signs_heads(tmp_path: Path) -> None:
    kms = tmp_path / "kms"
    kms.mkdir(mode=0o700)
    key = Ed25519PrivateKey.generate()
    (kms / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
    (kms / "sign.py").write_text(SIGNER)
    signer = CommandSigner([sys.executable, str(kms / "sign.py"), str(kms / "key.pem")])
    with AuditLog(tmp_path / "a.db", signing_key=signer) as log:
        log.append_many(original(5))
        head = log.publish_head()
    head.verify(key.public_key())
    assert verify_log(tmp_path / "a.db", key.public_key()).ok
    # A signer that returns a bad signature fails closed: no head is stored.
    bad = CommandSigner([sys.executable, str(kms / "sign.py"), str(kms / "key.pem"), "garble"])
    with AuditLog(tmp_path / "a.db", signing_key=bad) as log:
        log.append_many(original(7)[5:])
        with pytest.raises(AuditWriteError, match="invalid signature"):
            log.publish_head()
        assert log.latest_head() == head
    with pytest.raises(AuditKeyError, match="could not run"):
        CommandSigner([str(tmp_path / "missing")])
    assert os.stat(kms / "key.pem").st_size > 0


def test_the_scan_warns_until_the_key_is_elsewhere_and_witnesses_are_listed(tmp_path: Path) -> None:
    from jobshadow.config import load_settings
    from jobshadow.govern.heads import log_key, trail_warnings, witnesses_of
    from jobshadow.govern.storage import Storage

    home = {"JOBSHADOW_HOME": str(tmp_path / "home")}
    plain = Storage(load_settings(environ=home))
    assert [k for k, _, _ in trail_warnings(plain)] == ["audit_key_local", "audit_unwitnessed"]
    vkey = VerifierKey.parse(log_key(plain))
    w = Witness.init(tmp_path / "w", "w.example/audit", vkey)
    configured = Storage(load_settings(environ={
        **home, "JOBSHADOW_GOVERN__AUDIT_SIGNER": f"file:{tmp_path / 'kms' / 'audit.pem'}",
        "JOBSHADOW_GOVERN__AUDIT_WITNESSES": f'["{w.vkey} http://127.0.0.1:1"]'}))
    assert trail_warnings(configured) == []
    assert witnesses_of(configured.settings) == [WitnessRef(w.vkey, "http://127.0.0.1:1")]
    assert VerifierKey.parse(log_key(configured)) != vkey  # another key, another log


# --- the commands --------------------------------------------------------------------------------
def serve_witness(state: Path, env: dict[str, str]) -> tuple[Any, str]:
    """`audit witness serve` in its own process; its log goes to a file (a full pipe would stall it)."""
    import json
    import subprocess

    log = state.parent / f"{state.name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "jobshadow", "audit", "witness", "serve", "--state",
                                 str(state), "--port", "0"], stderr=out, env={**os.environ, **env})
    found: list[str] = []

    def listening() -> bool:
        assert proc.poll() is None, log.read_text()
        found.extend(json.loads(line)["url"] for line in log.read_text().splitlines()
                     if line.startswith('{"event": "listening"'))
        return bool(found)

    wait_for(listening)
    return proc, found[0]


def test_the_witness_commands_and_verify_with_a_quorum(tmp_path: Path) -> None:
    import json
    import signal

    from click.testing import CliRunner

    from jobshadow.cli.main import cli
    from jobshadow.config import load_settings
    from jobshadow.govern.door import Governance
    from jobshadow.govern.heads import log_key
    from jobshadow.govern.storage import Storage

    runner = CliRunner()
    env = {"JOBSHADOW_HOME": str(tmp_path / "server")}
    vkey = log_key(Storage(load_settings(environ=env)))  # `jobshadow audit key` on the server
    procs, witnesses = [], []
    for name in ("dpo.example/audit", "works-council.example/audit"):
        state = tmp_path / name.split(".")[0]
        out = runner.invoke(cli, ["audit", "witness", "init", "--state", str(state), "--name", name, "--log-key", vkey])
        assert out.exit_code == 0, out.output
        proc, url = serve_witness(state, env)
        procs.append(proc)
        witnesses.append(f"{out.stdout.strip()} {url}")
    env["JOBSHADOW_GOVERN__AUDIT_WITNESSES"] = json.dumps(witnesses)
    settings = load_settings(environ=env)
    try:
        gov = Governance(settings)
        gov.scan()  # an audited access
        gov.close()  # publishes a head and sends it to both witnesses
        with Governance(settings) as gov:
            trail = gov.verify_audit()
        report = trail.as_json()
        assert trail.ok, trail.summary()
        assert report["quorum"] == 2 and report["confirmed"] == 2 and report["first_difference"] is None
        assert report["witnessed_size"] == report["tree_size"] > 0
        status = runner.invoke(cli, ["audit", "witness", "status", "--state", str(tmp_path / "dpo"), "--json"])
        assert json.loads(status.stdout)["size"] == report["tree_size"]
        text = trail.summary()
        assert "witness dpo.example/audit: confirmed, size 1 matches the log" in text
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        assert proc.wait(timeout=20) == 0  # SIGTERM stops a witness promptly and cleanly
    with Governance(settings) as gov:
        failed = gov.verify_audit()
        assert not failed.ok
        assert [v.state for v in failed.witnesses.views] == ["unreachable", "unreachable"]
        assert "witness_quorum" in {p.kind for p in failed.problems()}
        with pytest.raises(ConfigError, match="needs at least 3 witnesses"):
            gov.verify_audit(quorum=3)


def test_when_heads_cannot_be_signed_the_publisher_fails_closed(tmp_path: Path) -> None:
    from jobshadow.govern.audit.signer import KeySigner

    class Flaky(KeySigner):
        down = False

        def sign(self, message: bytes) -> bytes:
            if self.down:
                raise AuditKeyError("the KMS does not answer")
            return super().sign(message)

    signer = Flaky(Ed25519PrivateKey.generate())
    (tmp_path / "heads").mkdir()
    with AuditLog(tmp_path / "a.db", signing_key=signer) as log:
        pub = HeadPublisher(log, tmp_path / "heads", interval=0.1)
        try:
            signer.down = True
            log.append_many(original(3))
            pub.appended(3)
            wait_for(lambda: pub.failing)  # the background attempt failed: writers must publish themselves
            with pytest.raises(AuditWriteError, match="KMS"):
                pub.publish()
            signer.down = False
            assert pub.publish().tree_size == 3 and not pub.failing
        finally:
            pub.close()
