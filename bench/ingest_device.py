"""Simulated devices for ``bench/ingest.py``: worker processes that each drive several devices.

Every simulated device is a real one: its own ``JOBSHADOW_HOME``, its own Ed25519 identity
(enrolled over HTTP with a one-time code), its own spool key, its own ``Uploader`` and so its own
keep-alive HTTP connection; every request it sends is freshly signed. A worker process drives its
devices with one thread each, because 200 Python processes would not fit on two cores.

A worker runs in two steps, with the parent's start signal in between, so that only delivery is
timed:

1. set up (untimed): enrol, write the spool segments (``make_segment``), ``Uploader.prepare`` them;
2. go (timed): every device delivers its prepared segments one after another, all devices at once,
   or (poll mode) issues signed ``GET /v1/device/config?wait=0`` polls round-robin.

Results go back on a queue as plain dicts.
"""

from __future__ import annotations

import os
import random
import resource
import secrets
import threading
import time
import traceback
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

FRAMES_PER_SEGMENT = 120  # 2 frames per second over a 60 s segment
SEGMENT_SECONDS = 60.0
MAX_ATTEMPTS = 5  # a transient failure is retried (as the real uploader does), and counted as an error


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def make_segment(home: Any, key: Any, session: str, index: int, target_bytes: int, rng: random.Random) -> None:
    """One finished, sealed spool segment as the recorder writes a minute of work.

    120 H.264-sized frames (random bytes, so incompressible; every 20th a keyframe four times the
    size) scaled so the frames add up to ``target_bytes``, about 1,500 pointer moves, 400 key
    events, and an MCAP chunk flush every 0.5 s as the recorder's ``flush_seconds`` does.
    """
    from jobshadow.crypto.sealed import SealedWriter
    from jobshadow.records import EncodedFrame, FrameMeta, KeyEvent, Monitor, MouseButton, MouseMove, Rect
    from jobshadow.segment.writer import SegmentWriter
    from jobshadow.spool.store import SpoolStore, segment_id

    store = SpoolStore(home)
    started = datetime(2026, 11, 22, 10, 0, tzinfo=UTC) + timedelta(seconds=SEGMENT_SECONDS * (index - 1))
    sid = segment_id(session, index, started)
    weights = [4.0 if i % 20 == 0 else rng.uniform(0.5, 1.5) for i in range(FRAMES_PER_SEGMENT)]
    scale = target_bytes / sum(weights)
    monitors = (Monitor("HDMI-1", Rect(0, 0, 1920, 1080), True),)
    t0 = 1000.0 + SEGMENT_SECONDS * (index - 1)
    path = store.open_path(sid)
    with path.open("xb") as raw:
        sealed = SealedWriter(raw, key.reveal(), content="mcap", extra={"segment_id": sid})
        w = SegmentWriter(sealed, {"segment_id": sid, "session_id": session, "index": index, "schema_version": 1,
                                   "started": started.isoformat(), "wall_offset": 1.7e9})
        x, y = 960, 540
        for f in range(FRAMES_PER_SEGMENT):
            t = t0 + f * 0.5
            for m in range(12):  # pointer travel
                x = min(1919, max(0, x + rng.randint(-25, 25)))
                y = min(1079, max(0, y + rng.randint(-15, 15)))
                w.write(MouseMove(t + m * 0.04, x, y))
            for k in range(rng.choice((0, 1, 2, 3, 4, 5))):  # typing, ~1.7 keys per 0.5 s
                code = rng.randint(24, 58)
                w.write(KeyEvent(t + 0.05 * k, "key_press", code, 97 + code % 26, "a", "a", (), 1))
                w.write(KeyEvent(t + 0.05 * k + 0.03, "key_release", code, 97 + code % 26, "a", "a", (), 1))
            if f % 6 == 0:
                w.write(MouseButton(t + 0.3, "mouse_press", 1, x, y))
                w.write(MouseButton(t + 0.35, "mouse_release", 1, x, y))
            meta = FrameMeta(t + 0.45, f, "start" if f == 0 else "change", t + 0.44, 1920, 1080, f % 20 == 0,
                             monitors, ())
            w.write_frame(EncodedFrame(meta, os.urandom(max(1, int(weights[f] * scale)))))
            w.flush()
        ended = started + timedelta(seconds=SEGMENT_SECONDS)
        w.finish({"finished_by": "rotate", "ended": ended.isoformat()})
        sealed.finish()
    store.finalize(path)


class Device:
    """One simulated device: home, identity, spool key, uploader, prepared outbox items."""

    def __init__(self, root: Path, server_url: str, code: str | None, chunk_bytes: int) -> None:
        from jobshadow.config import UploadSettings
        from jobshadow.durations import Duration
        from jobshadow.home import Home
        from jobshadow.spool.keys import load_spool_key
        from jobshadow.upload.identity import enroll, load_identity
        from jobshadow.upload.uploader import Uploader

        self.home = Home(root).ensure()
        identity = load_identity(self.home)
        if identity is None:
            assert code is not None, f"{root} is not enrolled and has no code"
            identity = enroll(self.home, server_url, code, name=root.name)
        self.identity = identity
        self.key = load_spool_key(self.home, "file")
        settings = UploadSettings(bandwidth_bytes_per_s=0, auto_approve_after=Duration(0), chunk_bytes=chunk_bytes)
        self.uploader = Uploader(self.home, settings, identity, self.key)
        self.items: list[Any] = []

    def leftovers(self) -> dict[str, int]:
        """Files that should be gone once every segment is acknowledged."""
        spool = [p for p in self.home.segments_dir.iterdir()]
        outbox = [p for p in self.uploader.outbox.iterdir()]
        quarantine = [p for p in self.uploader.quarantine_dir.iterdir()]
        return {"spool": len(spool), "outbox": len(outbox), "quarantine": len(quarantine)}


def _deliver_all(dev: Device, start: threading.Barrier, out: dict[str, Any]) -> None:
    from jobshadow.errors import RequestRejected, Transient

    start.wait()
    for item in dev.items:
        t_begin = time.monotonic()
        landed = False
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                dev.uploader.deliver(item)
                landed = True
                break
            except Transient as exc:
                out["errors"].append(f"transient: {str(exc)[:160]}")
                time.sleep(min(5.0, 0.5 * 2 ** attempt) * random.uniform(0.5, 1.0))
            except RequestRejected as exc:
                out["errors"].append(f"rejected {exc.status} {exc.code}")
                break
            except Exception as exc:  # a bug in the benchmark or the client: count it, keep going
                out["errors"].append(f"{type(exc).__name__}: {str(exc)[:160]}")
                break
        t_end = time.monotonic()
        if landed:
            out["segments"].append((t_begin, t_end, item.size, item.content_hash))
        else:
            out["failed"].append(item.content_hash)


def _poll_loop(syncs: list[Any], quota: int, deadline: float, start: threading.Barrier,
               out: dict[str, Any]) -> None:
    start.wait()
    i = 0
    while i < quota and time.monotonic() < deadline:
        sync = syncs[i % len(syncs)]
        t0 = time.monotonic()
        try:
            sync.poll_once(0)
            out["latencies"].append(time.monotonic() - t0)
        except Exception as exc:
            out["errors"].append(f"{type(exc).__name__}: {str(exc)[:160]}")
        i += 1


def upload_worker(spec: dict[str, Any], ready: Any, go: Any, results: Any) -> None:
    """Process entry point (spawned): set up ``spec['devices']``, report ready, deliver on ``go``."""
    wid = spec["worker"]
    try:
        rng = random.Random(spec["seed"])
        t = time.monotonic()
        devices = [Device(Path(root), spec["server_url"], code, spec["chunk_bytes"]) for root, code in spec["devices"]]
        enrol_s = time.monotonic() - t
        t = time.monotonic()
        for dev in devices:
            session = secrets.token_hex(3)
            for n in range(1, spec["segments_per_device"] + 1):
                make_segment(dev.home, dev.key, session, n, spec["segment_bytes"], rng)
        gen_s = time.monotonic() - t
        t = time.monotonic()
        for dev in devices:
            dev.items = [dev.uploader.prepare(seg) for seg in sorted(dev.uploader.eligible(), key=lambda s: s.id)]
        prep_s = time.monotonic() - t
        prepared = [{"device": dev.identity.device_id, "segment_id": it.segment_id, "content_hash": it.content_hash,
                     "size": it.size} for dev in devices for it in dev.items]
        ready.put({"worker": wid, "ok": True, "enrol_s": enrol_s, "gen_s": gen_s, "prep_s": prep_s,
                   "prepared": prepared})
    except Exception:
        ready.put({"worker": wid, "ok": False, "error": traceback.format_exc()})
        return
    go.wait()
    cpu0 = cpu_seconds()
    barrier = threading.Barrier(len(devices))
    outs: list[dict[str, Any]] = [{"segments": [], "errors": [], "failed": []} for _ in devices]
    threads = [threading.Thread(target=_deliver_all, args=(dev, barrier, o), name=f"device-{n}")
               for n, (dev, o) in enumerate(zip(devices, outs, strict=True))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    leftovers: Counter[str] = Counter()
    for dev in devices:
        leftovers.update(dev.leftovers())
        dev.uploader.client.close()
    results.put({"worker": wid, "cpu_s": cpu_seconds() - cpu0,
                 "segments": [s for o in outs for s in o["segments"]],
                 "errors": [e for o in outs for e in o["errors"]],
                 "failed": [h for o in outs for h in o["failed"]],
                 "leftovers": dict(leftovers)})


def poll_worker(spec: dict[str, Any], ready: Any, go: Any, results: Any) -> None:
    """Process entry point (spawned): ``spec['threads']`` threads poll round-robin over the identities."""
    from jobshadow.home import Home
    from jobshadow.upload.client import CollectorClient
    from jobshadow.upload.identity import enroll, load_identity
    from jobshadow.upload.sync import DeviceSync

    wid = spec["worker"]
    try:
        syncs = []
        for root, code in spec["devices"]:
            home = Home(Path(root)).ensure()
            identity = load_identity(home) or enroll(home, spec["server_url"], code, name=Path(root).name)
            sync = DeviceSync(home, CollectorClient(identity.server_url, identity), lambda cfg: None)
            sync.poll_once(0)  # a device knows its configuration (ETag) before it starts polling
            syncs.append(sync)
        ready.put({"worker": wid, "ok": True})
    except Exception:
        ready.put({"worker": wid, "ok": False, "error": traceback.format_exc()})
        return
    go.wait()
    n_threads = min(spec["threads"], len(syncs))
    cpu0 = cpu_seconds()
    barrier = threading.Barrier(n_threads)
    deadline = time.monotonic() + spec["max_seconds"]
    outs: list[dict[str, Any]] = [{"latencies": [], "errors": []} for _ in range(n_threads)]
    threads = []
    for n in range(n_threads):
        quota = spec["polls"] // n_threads + (1 if n < spec["polls"] % n_threads else 0)
        mine = syncs[n::n_threads]
        threads.append(threading.Thread(target=_poll_loop, args=(mine, quota, deadline, barrier, outs[n])))
    t0 = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    t1 = time.monotonic()
    for s in syncs:
        s.client.close()
    results.put({"worker": wid, "cpu_s": cpu_seconds() - cpu0, "t0": t0, "t1": t1,
                 "latencies": [x for o in outs for x in o["latencies"]],
                 "errors": [e for o in outs for e in o["errors"]]})


def long_poll_worker(spec: dict[str, Any], ready: Any, go: Any, results: Any) -> None:
    """Process entry point (spawned): ``spec['conns']`` connections each hold one long poll at once.

    Every connection is a device waiting for a configuration change (its ETag is current, so the
    server holds the request for ``spec['wait']`` seconds and answers 304); identities are reused
    round-robin, each connection with its own client.
    """
    from jobshadow.home import Home
    from jobshadow.upload.client import CollectorClient
    from jobshadow.upload.identity import load_identity

    wid = spec["worker"]
    try:
        identities = []
        for root, _ in spec["devices"]:
            identity = load_identity(Home(Path(root)))
            assert identity is not None, f"{root} is not enrolled"
            client = CollectorClient(identity.server_url, identity)
            cfg = client.device_config(None, 0)
            client.close()
            assert cfg is not None
            identities.append((identity, cfg.etag))
        ready.put({"worker": wid, "ok": True})
    except Exception:
        ready.put({"worker": wid, "ok": False, "error": traceback.format_exc()})
        return
    outcomes: Counter[str] = Counter()
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(spec["conns"])

    def hold(n: int) -> None:
        identity, etag = identities[n % len(identities)]
        client = CollectorClient(identity.server_url, identity, timeout=30.0)
        barrier.wait()
        t0 = time.monotonic()
        try:
            out = client.device_config(etag, spec["wait"])
            outcome = "304 held" if out is None else "200 changed"
        except Exception as exc:
            outcome = f"{type(exc).__name__}: {str(exc)[:100]}"
        finally:
            client.close()
        with lock:
            outcomes[outcome] += 1
            latencies.append(time.monotonic() - t0)

    go.wait()
    cpu0 = cpu_seconds()
    threads = [threading.Thread(target=hold, args=(n,)) for n in range(spec["conns"])]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    results.put({"worker": wid, "cpu_s": cpu_seconds() - cpu0, "outcomes": dict(outcomes), "latencies": latencies})
