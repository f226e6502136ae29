"""A collector on loopback plus enrolled devices with spool segments, for demo and tests.

``LiveCollector`` runs the real ASGI app on real uvicorn in a thread, bound to 127.0.0.1 on a
free port. ``make_segment`` writes a genuine sealed spool segment (MCAP, JSON channels, optional
incompressible "video" payload) the way the recorder would.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobshadow.config import Settings, load_settings
from jobshadow.crypto.sealed import SealedWriter
from jobshadow.home import Home
from jobshadow.records import EncodedFrame, FrameMeta, KeyEvent, MouseMove
from jobshadow.segment.writer import SegmentWriter
from jobshadow.spool.keys import load_spool_key
from jobshadow.spool.store import SegmentFile, SpoolStore, segment_id


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveCollector:
    """The real collector app on real uvicorn, in this process (stop() when done)."""

    def __init__(self, home: Path, **overrides: str) -> None:
        import uvicorn

        from jobshadow.ingest.app import create_app
        from jobshadow.ingest.service import CollectorService

        env = {"JOBSHADOW_HOME": str(home), **{f"JOBSHADOW_SERVER__{k.upper()}": v for k, v in overrides.items()}}
        self.settings: Settings = load_settings(environ=env)
        self.service = CollectorService(self.settings, committer=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(self.settings, self.service)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", log_config=None,
                                access_log=False)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the collector did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10)
        self.service.close()

    def approve_scope(self, name: str = "work", apps: tuple[str, ...] = ("xterm",), **extra: Any) -> None:
        svc = self.service
        svc.create_scope(name, {"apps": list(apps), **extra}, by="lead@example.com")
        rid = svc.submit_review(name, by="lead@example.com")
        svc.decide_review(rid, True, "dpo@example.com")
        svc.activate_scope(name, by="lead@example.com")


@dataclass
class FleetDevice:
    home: Home
    identity: Any
    key: Any


def enrol_device(collector: LiveCollector, root: Path, email: str) -> FleetDevice:
    from jobshadow.upload.identity import enroll

    home = Home(root).ensure()
    code, _ = collector.service.create_enroll_code(email)
    identity = enroll(home, collector.url, code, name=f"test-{email}")
    return FleetDevice(home, identity, load_spool_key(home, "file"))


def make_segment(home: Home, *, events: int = 500, video_bytes: int = 0, session: str | None = None,
                 index: int = 1) -> SegmentFile:
    """A finished, sealed spool segment as the recorder writes it."""
    key = load_spool_key(home, "file")
    store = SpoolStore(home)
    session = session or secrets.token_hex(3)
    sid = segment_id(session, index)
    with store.open_path(sid).open("xb") as raw:
        sealed = SealedWriter(raw, key.reveal(), content="mcap", extra={"segment_id": sid})
        w = SegmentWriter(sealed, {"segment_id": sid, "session_id": session, "schema_version": 1,
                                   "started": "2026-11-22T10:00:00+00:00", "wall_offset": 1.7e9})
        for i in range(events):
            if i % 5 == 0:
                w.write(KeyEvent(1.0 + i * 0.01, "key_press", 38, 97, "a", "a", (), 1))
            else:
                w.write(MouseMove(1.0 + i * 0.01, i % 1920, i % 1080))
        seq = 0
        left = video_bytes
        while left > 0:
            n = min(left, 64 * 1024)
            seq += 1
            w.write_frame(EncodedFrame(FrameMeta(2.0 + seq * 0.01, seq, "change", 2.0, 1920, 1080, seq == 1, (), ()),
                                       os.urandom(n)))
            left -= n
        w.finish({"finished_by": "stop", "ended": "2026-11-22T10:01:00+00:00"})
        sealed.finish()
    return SegmentFile(sid, store.finalize(store.open_path(sid)), "finished", 0, 0.0)
