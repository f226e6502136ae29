"""Fault injection: SIGKILL the collector and the uploader at random points, and take the collector
away for a while. Afterwards every segment is in landing exactly once, byte-identical by hash, and
every device copy of an acknowledged segment is gone.

Both sides are real processes (`jobshadow server start`, `jobshadow upload run`) talking HTTP over
loopback; the test only plays the admin (through the same database) and the chaos monkey.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from jobshadow.config import load_settings
from jobshadow.crypto.sealed import open_sealed
from jobshadow.govern import open_programme
from jobshadow.govern.storage import Storage
from jobshadow.home import Home
from jobshadow.ingest.service import CollectorService
from jobshadow.spool.store import SpoolStore, open_segment
from jobshadow.testing.fleet import free_port, make_segment
from jobshadow.testing.poll import wait_for
from jobshadow.upload.identity import enroll

pytestmark = pytest.mark.slow

SEGMENTS = 24


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBSHADOW_")}
    env["JOBSHADOW_HOME"] = str(home)
    env.update(extra)
    return env


class Proc:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args, self.env, self.log = args, env, log
        self.p: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        fh = self.log.open("ab")
        self.p = subprocess.Popen([sys.executable, "-m", "jobshadow", *self.args], env=self.env, stdout=fh,
                                  stderr=fh)
        fh.close()

    def kill(self) -> None:
        if self.p is not None and self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
            self.p.wait()

    def stop(self) -> None:
        if self.p is not None and self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def alive(self) -> bool:
        return self.p is not None and self.p.poll() is None


def wait_healthy(port: int, timeout: float = 30) -> None:
    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    wait_for(healthy, timeout, "the collector to come up", interval=0.1)


def test_exactly_once_under_crashes_and_outage(tmp_path: Path) -> None:
    rng = random.Random(20261122)
    server_home, device_home = tmp_path / "server", tmp_path / "device"
    port = free_port()
    settings = load_settings(environ={"JOBSHADOW_HOME": str(server_home)})
    # Two worker processes whatever the core count: the lease and its take-over are crashed too.
    server = Proc(["server", "start", "--port", str(port), "--workers", "2", "--no-door"], env_for(server_home),
                  tmp_path / "server.log")
    server.start()
    wait_healthy(port)

    with open_programme(settings) as admin:
        code, _ = admin.create_enroll_code("dana@example.com", by="person:lead@example.com")
        admin.create_scope("work", {"apps": ["xterm"]}, by="person:lead@example.com")
        rid = admin.submit_review("work", by="person:lead@example.com")
        admin.decide_review(rid, True, "person:dpo@example.com")
        admin.activate_scope("work", by="person:lead@example.com")
    home = Home(device_home).ensure()
    identity = enroll(home, f"http://127.0.0.1:{port}", code)
    from jobshadow.protect.consent import ConsentStore

    ConsentStore(home).give()
    expected: set[str] = set()
    for i in range(SEGMENTS):
        seg = make_segment(home, events=300 + i * 10, video_bytes=rng.randrange(50_000, 400_000),
                           session="c0ffee", index=i + 1)
        expected.add(hashlib.sha256(open_segment(seg.path, identity and _key(home))[0].plaintext).hexdigest())
    assert len(expected) == SEGMENTS

    uploader_env = env_for(device_home, JOBSHADOW_UPLOAD__AUTO_APPROVE_AFTER="0",
                           JOBSHADOW_UPLOAD__BANDWIDTH_BYTES_PER_S="0", JOBSHADOW_UPLOAD__CHUNK_BYTES="262144",
                           JOBSHADOW_UPLOAD__RETRY_INITIAL="0.2", JOBSHADOW_UPLOAD__RETRY_MAX="1",
                           JOBSHADOW_UPLOAD__POLL_TIMEOUT="2")
    uploader = Proc(["upload", "run"], uploader_env, tmp_path / "uploader.log")
    uploader.start()
    kills = {"server": 0, "uploader": 0}
    store = SpoolStore(home)
    try:
        for round_ in range(14):
            time.sleep(rng.uniform(0.2, 1.2))  # chaos: kills at random moments are the scenario
            victim = rng.choice(["server", "uploader"])
            if victim == "server":
                server.kill()
                kills["server"] += 1
                if round_ == 6:
                    time.sleep(3.0)  # an outage: the uploader backs off and keeps trying
                server.start()
                wait_healthy(port)
            else:
                uploader.kill()
                kills["uploader"] += 1
                uploader.start()
            if not store.list():
                break
        def delivered() -> bool:
            if not uploader.alive:
                uploader.start()
            return not (store.list() or list((home.spool_dir / "outbox").glob("*.json")))

        wait_for(delivered, 120, "uploads to finish", interval=0.5)
    finally:
        uploader.stop()
        server.stop()

    assert kills["server"] + kills["uploader"] >= 3
    # Device side: every acknowledged copy is gone, nothing quarantined.
    assert store.list() == []
    assert not list((home.spool_dir / "outbox").iterdir())
    assert not list((home.spool_dir / "quarantine").glob("*")) if (home.spool_dir / "quarantine").exists() else True
    # Server side: after a clean restart, landing holds each segment exactly once, byte-identical.
    svc = CollectorService(settings, committer=True)
    try:
        rows = svc.landed_rows()
        hashes = [r["content_hash"] for r in rows]
        assert len(hashes) == len(set(hashes)), "a segment landed twice"
        assert set(hashes) == expected, f"missing {len(expected - set(hashes))}, extra {len(set(hashes) - expected)}"
        storage = Storage(settings)
        for r in rows:
            blob = Path(r["blob_uri"].removeprefix("file://"))
            with blob.open("rb") as fh:
                opened = open_sealed(fh, storage.landing_recipient.master_for)
            assert hashlib.sha256(opened.plaintext).hexdigest() == r["content_hash"]
        leftovers = list(storage.paths.staging.glob("*.part"))
        assert not leftovers, f"staged bytes left behind: {leftovers}"
    finally:
        svc.close()


def _key(home: Home):  # type: ignore[no-untyped-def]
    from jobshadow.spool.keys import load_spool_key

    return load_spool_key(home, "file")
