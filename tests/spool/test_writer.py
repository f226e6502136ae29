"""The spool writer without X: rotation by time and size, flushing, and recovery after a crash.

Time is the ``now`` the recorder's writer thread passes to ``tick``: no test here waits for it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from jobshadow.config import SegmentSettings
from jobshadow.errors import SpoolCorrupt
from jobshadow.home import Home
from jobshadow.records import FocusChange, KeyEvent, Marker, Protected, Rect, WindowInfo
from jobshadow.segment.format import META_RECOVERED
from jobshadow.spool.keys import SpoolKey, load_spool_key
from jobshadow.spool.recovery import recover_open_segments
from jobshadow.spool.store import SpoolStore, open_segment
from jobshadow.spool.writer import SpoolWriter

WINDOW = WindowInfo(7, "xterm", "XTerm", "notes", 1, "xterm", Rect(0, 0, 100, 100))


def key(t: float, ch: str = "a") -> Protected[KeyEvent]:
    return Protected(KeyEvent(t, "key_press", 38, ord(ch), ch, ch, (), 7))


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home").ensure()


@pytest.fixture
def spool_key(home: Home) -> SpoolKey:
    return load_spool_key(home, "file")


def writer(home: Home, spool_key: SpoolKey, **segments: float) -> SpoolWriter:
    return SpoolWriter(SpoolStore(home), spool_key, SegmentSettings(**segments), session="abc123",  # type: ignore[arg-type]
                       base_meta={"schema_version": 1}, encoder_factory=lambda w, h: None)  # type: ignore[arg-type,return-value]


def test_a_segment_rotates_after_rotate_seconds_and_carries_the_focus_over(home: Home, spool_key: SpoolKey) -> None:
    w = writer(home, spool_key, rotate_seconds=60.0)
    t0 = time.monotonic()
    w.write(Protected(FocusChange(t0, WINDOW)))
    w.write(key(t0 + 0.1))
    opened = w._opened_at
    assert w.tick(opened + 59.9) is False  # not yet
    assert w.tick(opened + 60.0) is True  # a new segment opened
    w.write(key(opened + 61.5, "b"))
    w.close()
    assert len(w.finished) == 2
    second = [r for _, _, r in open_segment(w.finished[1], spool_key)[1].records()]
    # The new segment is self-contained: it opens with the window that had focus, marked carried.
    assert isinstance(second[0], FocusChange) and second[0].carried and second[0].window == WINDOW
    assert [r.char for r in second if isinstance(r, KeyEvent)] == ["b"]
    ends = [open_segment(p, spool_key)[1].metadata["jobshadow.segment.end"]["finished_by"] for p in w.finished]
    assert ends == ["rotate", "stop"]


def test_a_segment_rotates_when_it_reaches_rotate_bytes(home: Home, spool_key: SpoolKey) -> None:
    w = writer(home, spool_key, rotate_bytes=64 * 1024, rotate_seconds=3600.0)
    t = 1.0
    while w.tick(w._opened_at + 1.0) is False:
        for _ in range(200):
            t += 0.001
            w.write(Protected(Marker(t, "task_start", {"title": os.urandom(40).hex()})))
        w.flush()
    w.close()
    assert len(w.finished) == 2 and w.finished[0].stat().st_size >= 64 * 1024


def test_tick_flushes_at_least_every_flush_seconds_so_a_crash_loses_at_most_that(home: Home,
                                                                                 spool_key: SpoolKey) -> None:
    w = writer(home, spool_key, flush_seconds=0.5)
    w.write(key(1.0))
    w.tick(w._last_flush + 0.4)  # not due: nothing sealed to disk yet beyond the header
    part = SpoolStore(home).list()[0]
    assert part.state == "open"
    _opened, content = open_segment(part.path, spool_key, allow_unfinished=True)
    assert not [r for _, _, r in content.records() if isinstance(r, KeyEvent)]
    w.tick(w._last_flush + 0.5)  # due: the key is sealed and on disk
    _opened, content = open_segment(part.path, spool_key, allow_unfinished=True)
    assert [r.char for _, _, r in content.records() if isinstance(r, KeyEvent)] == ["a"]
    # The process dies here (no close): the next start recovers exactly what was flushed.
    reports = recover_open_segments(SpoolStore(home), spool_key)
    assert [(r.outcome, r.messages) for r in reports] == [("recovered", 1)]
    segs = SpoolStore(home).list()
    assert [s.state for s in segs] == ["finished"]
    _opened, content = open_segment(segs[0].path, spool_key)
    assert META_RECOVERED in content.metadata
    assert [r.char for _, _, r in content.records() if isinstance(r, KeyEvent)] == ["a"]


def test_recovery_removes_an_empty_part_and_sets_a_tampered_one_aside(home: Home, spool_key: SpoolKey) -> None:
    store = SpoolStore(home)
    w = writer(home, spool_key)
    w.write(key(1.0))
    w.flush()
    good = store.list()[0].path
    tampered = bytearray(good.read_bytes())
    tampered[-20] ^= 0xFF
    good.write_bytes(bytes(tampered))
    crashed_early = SpoolWriter(store, spool_key, SegmentSettings(), session="bbbbbb", base_meta={},
                                encoder_factory=lambda w, h: None)  # type: ignore[arg-type,return-value]
    crashed_early.write(key(2.0))  # opened (header on disk), never flushed: nothing authenticated follows
    empty = store.list()[-1].path
    assert empty.name.endswith(".part") and empty != good
    reports = {r.segment_id: r for r in recover_open_segments(store, spool_key)}
    assert reports[empty.name[: -len(".mcap.sealed.part")]].outcome == "empty" and not empty.exists()
    bad = reports[good.name[: -len(".mcap.sealed.part")]]
    assert bad.outcome == "corrupt" and bad.path is not None and bad.path.name.endswith(".corrupt")
    with pytest.raises(SpoolCorrupt):
        open_segment(bad.path, spool_key)


def test_the_spool_takes_only_protected_records(home: Home, spool_key: SpoolKey) -> None:
    w = writer(home, spool_key)
    with pytest.raises(TypeError, match="only Protected"):
        w.write(KeyEvent(1.0, "key_press", 38, 97, "a", "a", ()))  # type: ignore[arg-type]
