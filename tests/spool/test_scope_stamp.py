"""Each segment is stamped with the collection scope version it was captured under (issue 12)."""

from __future__ import annotations

from pathlib import Path

from jobshadow.config import SegmentSettings
from jobshadow.home import Home
from jobshadow.records import KeyEvent, Marker, Protected
from jobshadow.spool.keys import load_spool_key
from jobshadow.spool.store import SpoolStore, open_segment
from jobshadow.spool.writer import SpoolWriter


def key(t: float) -> Protected[KeyEvent]:
    return Protected(KeyEvent(t, "key_press", 38, 97, "a", "a", (), 1))


def test_a_scope_change_ends_the_segment_and_the_next_is_stamped_anew(tmp_path: Path) -> None:
    home = Home(tmp_path).ensure()
    spool_key = load_spool_key(home, "file")
    writer = SpoolWriter(SpoolStore(home), spool_key, SegmentSettings(), session="abc123",
                         base_meta={"schema_version": 1, "scope": {"allow_apps": ["xterm"]}},
                         encoder_factory=lambda w, h: None)  # type: ignore[arg-type,return-value]
    assert writer.set_scope("office", 1) is False  # nothing open yet: the first segment opens stamped
    writer.write(key(1.0))
    assert writer.set_scope("office", 1) is False  # the same version again changes nothing
    assert writer.set_scope("office", 2) is True  # a new version: the open segment ends here
    writer.write(Protected(Marker(2.0, "scope", {"name": "office", "version": 2})))
    writer.write(key(2.1))
    writer.close()
    metas = [open_segment(p, spool_key)[1].segment_meta for p in writer.finished]
    assert [(m["scope"]["name"], m["scope"]["version"]) for m in metas] == [("office", 1), ("office", 2)]
    assert metas[0]["scope"]["allow_apps"] == ["xterm"]
