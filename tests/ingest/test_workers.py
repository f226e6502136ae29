"""Several collector processes on one port: each lands uploads, one at a time commits them.

``jobshadow server start --workers 2`` runs for real (a uvicorn supervisor and two spawned worker
processes). The tests upload from several devices at once, kill the worker that holds the commit
lease, and read ``/metrics`` (summed over the workers).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from jobshadow.config import UploadSettings, load_settings
from jobshadow.govern import open_programme
from jobshadow.home import Home
from jobshadow.ingest.commit import LandingCommits
from jobshadow.ingest.lease import Lease, staged_lock
from jobshadow.ingest.service import CollectorService
from jobshadow.spool.keys import load_spool_key
from jobshadow.testing.fleet import LEAD, REVIEWER, free_port, make_segment
from jobshadow.testing.poll import wait_for
from jobshadow.upload.identity import enroll
from jobshadow.upload.uploader import Uploader

CANARY = "canary-9f3b-typed-secret"


def test_the_lease_has_one_holder_and_is_free_once_it_goes(tmp_path: Path) -> None:
    a, b = Lease(tmp_path / "lease"), Lease(tmp_path / "lease")
    assert a.try_acquire() and a.held
    assert not b.try_acquire() and not b.held
    a.release()
    assert b.try_acquire()
    b.release()


def test_a_staged_upload_is_locked_across_threads(tmp_path: Path) -> None:
    path = tmp_path / "x.part"
    path.write_bytes(b"")
    order: list[str] = []
    with staged_lock(path, os.O_RDONLY) as fd:
        assert fd is not None

        def other() -> None:
            with staged_lock(path, os.O_RDONLY):
                order.append("other")

        t = threading.Thread(target=other)
        t.start()
        time.sleep(0.3)
        order.append("first")
    t.join(5)
    assert order == ["first", "other"]
    with staged_lock(tmp_path / "gone.part", os.O_RDONLY) as fd:
        assert fd is None


class Server:
    def __init__(self, home: Path, log: Path, workers: int = 2) -> None:
        self.home, self.log, self.port, self.metrics_port = home, log, free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("JOBSHADOW_")}
        env["JOBSHADOW_HOME"] = str(home)
        env["JOBSHADOW_SERVER__METRICS_PORT"] = str(self.metrics_port)  # loopback; every worker shares it
        with log.open("ab") as fh:
            self.proc = subprocess.Popen([sys.executable, "-m", "jobshadow", "server", "start", "--port",
                                          str(self.port), "--workers", str(workers), "--no-door"],
                                         env=env, stdout=fh, stderr=fh)
        def up() -> bool:
            assert self.proc.poll() is None, log.read_text()[-2000:]
            return self.healthy()

        wait_for(up, 60, "the collector to come up", interval=0.1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def lines(self) -> list[dict[str, object]]:
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def committers(self) -> list[int]:
        return [int(str(r["pid"])) for r in self.lines()
                if r.get("message") == "this collector process commits to the landing table"]

    def metric(self, name: str) -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            text = r.read().decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(name + " ") or line.startswith(name + "{"))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return int(self.proc.returncode)


@pytest.mark.slow
def test_workers_land_everything_once_and_the_lease_moves_when_its_holder_dies(tmp_path: Path) -> None:
    home = tmp_path / "server"
    settings = load_settings(environ={"JOBSHADOW_HOME": str(home)})
    server = Server(home, tmp_path / "server.log")
    with open_programme(settings) as admin:
        codes = [admin.create_enroll_code(f"p{i}@example.com", by=LEAD)[0] for i in range(6)]
        admin.create_scope("work", {"apps": ["xterm"]}, by=LEAD)
        admin.decide_review(admin.submit_review("work", by=LEAD), True, REVIEWER)
        admin.activate_scope("work", by=LEAD)
    uploaders = []
    for i, code in enumerate(codes):
        dev = Home(tmp_path / f"d{i}").ensure()
        identity = enroll(dev, server.url, code)
        for n in range(3):
            make_segment(dev, events=200 + n, video_bytes=50_000 * (n + 1), session=f"{i:06d}", index=n + 1,
                         text=CANARY, title="Terminal")
        # Device 0 sends chunks, the others whole segments: both paths cross the workers.
        chunk = 32 * 1024 if i == 0 else 4 * 2**20
        uploaders.append(Uploader(dev, UploadSettings(auto_approve_after=0, bandwidth_bytes_per_s=0, chunk_bytes=chunk),
                                  identity, load_spool_key(dev, "file")))

    def deliver_all(batch: list[Uploader]) -> None:
        threads = [threading.Thread(target=u.run_once) for u in batch]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)

    try:
        wait_for(lambda: len(server.committers()) == 1)
        deliver_all(uploaders[:3])
        assert sum(u.stats.landed for u in uploaders) == 9
        # The lease holder dies (a crash, not a shutdown): the other worker commits from now on,
        # and the supervisor starts a replacement.
        [holder] = server.committers()
        os.kill(holder, signal.SIGKILL)
        wait_for(lambda: len(server.committers()) == 2)
        assert server.committers()[1] != holder
        deliver_all(uploaders[3:])
        assert sum(u.stats.landed for u in uploaders) == 18
        # Counted by three processes, one of them dead, summed by whichever worker answers.
        assert server.metric("jobshadow_segments_landed_total") == 18
    finally:
        for u in uploaders:
            u.close()
        assert server.stop() == 0
    svc = CollectorService(settings, committer=True)
    try:
        rows = svc.landed_rows()
        for u in uploaders:  # every acknowledged device copy is gone
            assert not list(u.outbox.iterdir()) and u.store.list() == []
        hashes = [r["content_hash"] for r in rows]
        assert len(hashes) == 18 and len(set(hashes)) == 18
        assert svc.counts()["open_uploads"] == 0
    finally:
        svc.close()
    assert not any(r.get("level") == "ERROR" for r in server.lines())
    # Typed text stays sealed: no stored byte on the server (blobs, databases, catalog, metrics
    # files) and no log line carries it.
    for path in [*home.rglob("*"), server.log]:
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path


def test_a_failed_take_over_gives_the_lease_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(environ={"JOBSHADOW_HOME": str(tmp_path / "server")})

    def broken(self: LandingCommits) -> int:
        raise RuntimeError("the catalog is unreachable")

    with monkeypatch.context() as m:
        m.setattr(LandingCommits, "recover", broken)
        with pytest.raises(RuntimeError, match="unreachable"):
            CollectorService(settings, committer=True)
    svc = CollectorService(settings, committer=True)  # the lease was not kept by the failure
    try:
        assert svc.commits_here
    finally:
        svc.close()
    again = CollectorService(settings, committer=True)  # and close() gave it back
    try:
        assert again.commits_here
    finally:
        again.close()
