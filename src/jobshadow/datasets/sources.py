"""Where the builder's input comes from: the governed lake, or a contributor's own local segments.

* ``GovernedSource`` reads the curated tables through the governance door as a principal, for a
  purpose (``model_training``): the door decides which columns and rows come back, decrypts only
  what the purpose allows, and audits every read; screen media come through the door too.
* ``LocalSource`` reads segment files on the contributor's device — sealed spool segments
  (decrypted with this device's spool key) or plain MCAP files from ``jobshadow segments
  decrypt`` — and turns them into the same curated rows, so everything downstream is identical.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from jobshadow.datasets.model import Focus, FrameRef, InputEvent, MarkerEvent, SegmentData
from jobshadow.errors import InputError
from jobshadow.lake import curated

if TYPE_CHECKING:
    from jobshadow.govern import Governance
    from jobshadow.spool.keys import SpoolKey

_EVENT_FIELDS = {f.name for f in dataclasses.fields(InputEvent)}
# What the builder reads of curated.events: the columns ``InputEvent`` has, and where curation put
# the same values for keys typed into an AI assistant (``curated.PROMPT_COLUMNS``).
EVENT_COLUMNS = [c.name for c in curated.EVENTS.columns
                 if c.name in _EVENT_FIELDS or curated.PROMPT_TWIN_OF.get(c.name) in _EVENT_FIELDS]
WINDOW_COLUMNS = ["segment_id", "seq", "t", "window_id", "wm_instance", "wm_class", "process", "x", "y", "width",
                  "height", "in_scope", "ai_assistant", "title"]
FRAME_COLUMNS = ["segment_id", "frame_seq", "t", "grabbed_at", "reason", "width", "height", "windows",
                 "media_offset", "media_length"]
MARKER_COLUMNS = ["segment_id", "t", "name", "detail"]
SEGMENT_COLUMNS = ["segment_id", "session_id", "started_at", "wall_offset", "screen_width", "screen_height",
                   "monitors"]
INPUT_TABLES = [curated.SEGMENTS.name, curated.EVENTS.name, curated.WINDOWS.name, curated.FRAMES.name,
                curated.MARKERS.name]


def _by_segment(table: pa.Table) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in table.to_pylist():
        out[row["segment_id"]].append(row)
    return out


def _segment_index(segment_id: str) -> int:
    tail = segment_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _events(rows: list[dict[str, Any]]) -> list[InputEvent]:
    out = []
    for r in sorted(rows, key=lambda r: r["seq"]):
        if r.get("stream") == "ai_prompt":  # as curation decided: its typed content is in the prompt columns
            r = {**r, **{col: r.get(twin) for col, twin in curated.PROMPT_COLUMNS.items()}}
        values = {name: r[name] for name in _EVENT_FIELDS if r.get(name) is not None}
        out.append(InputEvent(**{**values, "modifiers": tuple(r.get("modifiers") or ())}))
    return out


def _focus(rows: list[dict[str, Any]]) -> list[Focus]:
    out = []
    for r in sorted(rows, key=lambda r: r["seq"]):
        rect = (r["x"], r["y"], r["width"], r["height"]) if r.get("width") is not None else None
        app = r.get("wm_class") or r.get("process") or r.get("wm_instance") if r.get("in_scope") else None
        out.append(Focus(r["t"], app, r.get("title") if r.get("in_scope") else None, r.get("window_id"), rect,
                         None, bool(r.get("ai_assistant"))))
    return out


def _frames(rows: list[dict[str, Any]]) -> list[FrameRef]:
    out = []
    for r in sorted(rows, key=lambda r: r["frame_seq"]):
        if r.get("reason") == "orphan":
            continue  # decodable, but nobody knows when it was taken: never an observation
        windows = tuple(json.loads(r["windows"])) if r.get("windows") else ()
        out.append(FrameRef(r["t"], r["segment_id"], r["frame_seq"], r.get("width") or 0, r.get("height") or 0,
                            r.get("reason") or "", windows))
    return out


def _markers(rows: list[dict[str, Any]]) -> list[MarkerEvent]:
    out = []
    for r in sorted(rows, key=lambda r: r["t"]):
        detail = json.loads(r["detail"]) if r.get("detail") else {}
        out.append(MarkerEvent(r["t"], r["name"], detail.get("title") if isinstance(detail, dict) else None))
    return out


def _units(frames: list[dict[str, Any]], media: Callable[[], bytes]) -> Callable[[], list[tuple[int, bytes]]]:
    # A withheld frame (the redact stage could not check it) has no media: it is never shown. A
    # segment whose frames were all withheld has no media blob at all.
    ordered = sorted((r for r in frames if r.get("media_offset") is not None and r.get("media_length")),
                     key=lambda r: r["frame_seq"])

    def load() -> list[tuple[int, bytes]]:
        if not ordered:
            return []
        blob = media()
        return [(r["frame_seq"], blob[r["media_offset"]: r["media_offset"] + r["media_length"]]) for r in ordered]

    return load


def assemble(segments: pa.Table, events: pa.Table, windows: pa.Table, frames: pa.Table, markers: pa.Table,
             media: Callable[[str], bytes]) -> list[SegmentData]:
    """SegmentData for every segment row, from curated-shaped Arrow tables."""
    ev, wi, fr, ma = _by_segment(events), _by_segment(windows), _by_segment(frames), _by_segment(markers)
    out = []
    for s in segments.to_pylist():
        sid = s["segment_id"]
        monitors = json.loads(s["monitors"]) if s.get("monitors") else []
        out.append(SegmentData(
            segment_id=sid, session_id=s.get("session_id") or sid, index=_segment_index(sid),
            wall_offset=s.get("wall_offset") or 0.0, screen=(s.get("screen_width") or 0, s.get("screen_height") or 0),
            monitors=monitors, events=_events(ev.get(sid, [])), focus=_focus(wi.get(sid, [])),
            frames=_frames(fr.get(sid, [])), markers=_markers(ma.get(sid, [])),
            units=_units(fr.get(sid, []), lambda sid=sid: media(sid))))  # type: ignore[misc]
    return out


def sessions(segments: list[SegmentData]) -> dict[str, list[SegmentData]]:
    out: dict[str, list[SegmentData]] = defaultdict(list)
    for s in segments:
        out[s.session_id].append(s)
    return {k: sorted(v, key=lambda s: (s.index, s.segment_id)) for k, v in sorted(out.items())}


class GovernedSource:
    """Curated tables through the door, as ``principal`` for ``purpose``."""

    def __init__(self, gov: Governance, principal: str, purpose: str) -> None:
        self.gov, self.principal, self.purpose = gov, principal, purpose
        self.inputs = list(INPUT_TABLES)

    def _read(self, table: str, columns: list[str]) -> pa.Table:
        return self.gov.read(self.principal, self.purpose, table, columns).data

    def load(self) -> list[SegmentData]:
        segs = self._read(curated.SEGMENTS.name, SEGMENT_COLUMNS)
        return assemble(segs, self._read(curated.EVENTS.name, EVENT_COLUMNS),
                        self._read(curated.WINDOWS.name, WINDOW_COLUMNS),
                        self._read(curated.FRAMES.name, FRAME_COLUMNS),
                        self._read(curated.MARKERS.name, MARKER_COLUMNS),
                        lambda sid: self.gov.read_media(self.principal, self.purpose, sid))


class LocalSource:
    """A contributor's own segments: sealed spool files (this device's key) or plain ``.mcap`` files."""

    def __init__(self, folder: Path, key: SpoolKey | None) -> None:
        if not folder.is_dir():
            raise InputError(f"{folder} is not a folder of segments")
        self.folder = folder
        self.key = key
        self.inputs = [str(p) for p in self._files()]

    def _files(self) -> list[Path]:
        files = sorted(p for p in self.folder.iterdir()
                       if p.is_file() and (p.name.endswith(".mcap") or p.name.endswith(".mcap.sealed")))
        if not files:
            raise InputError(f"no segment files (.mcap, sealed spool segments) in {self.folder}")
        return files

    def _plaintext(self, path: Path) -> bytes:
        data = path.read_bytes()
        if data.startswith(b"\x89MCAP"):
            return data
        if self.key is None:
            raise InputError(f"{path.name} is sealed and this device has no spool key to open it")
        from jobshadow.spool.store import open_segment

        opened, _content = open_segment(path, self.key)
        return opened.plaintext

    def load(self) -> list[SegmentData]:
        from jobshadow.curate.rows import segment_tables

        parts: dict[str, list[pa.Table]] = defaultdict(list)
        media: dict[str, bytes] = {}
        for path in self._files():
            try:
                tables, blob = segment_tables(self._plaintext(path), "local", {
                    "segment_id": path.name.split(".", 1)[0], "device_id": "local", "content_hash": "",
                    "purposes": [], "started_at": None, "ended_at": None})
            except InputError:
                raise
            except Exception as exc:
                raise InputError(f"{path.name} is not a readable segment: {exc}") from None
            # Dataset images come only from redacted frames, here as in the lake.
            from jobshadow.redact.media import redact_media

            tables[curated.FRAMES.name], blob, _report = redact_media(tables[curated.FRAMES.name], blob)
            seg = tables[curated.SEGMENTS.name].column("segment_id")[0].as_py()
            media[seg] = blob
            for name, table in tables.items():
                parts[name].append(table)

        def cat(name: str) -> pa.Table:
            return pa.concat_tables(parts[name]) if parts[name] else curated.BY_NAME[name].arrow_schema().empty_table()

        return assemble(cat(curated.SEGMENTS.name), cat(curated.EVENTS.name), cat(curated.WINDOWS.name),
                        cat(curated.FRAMES.name), cat(curated.MARKERS.name), lambda sid: media[sid])


def iter_sessions(source: GovernedSource | LocalSource) -> Iterator[tuple[str, list[SegmentData]]]:
    yield from sessions(source.load()).items()
