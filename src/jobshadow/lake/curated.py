"""The curated tables: what a landed segment becomes, column by column, with labels (curated zone).

Every column carries exactly one classification label; a table's labels are the union of its
columns'. Columns marked ``sealed`` never appear in the Iceberg table at all: their values are
stored per (subject, table, column, segment) as one AES-GCM block in ``curated.vault``, sealed
with the subject's data key, and governance splices them back in — decrypted only for a principal
and purpose the policy allows. Rows carry ``seq`` (their position within the segment) so blocks
and rows line up.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

NAMESPACE = "curated"


@dataclass(frozen=True)
class ColumnDef:
    name: str
    type: pa.DataType
    label: str
    sealed: bool = False
    doc: str = ""
    also: tuple[str, ...] = ()  # further labels, for a column holding several kinds of data

    @property
    def labels(self) -> frozenset[str]:
        return frozenset((self.label, *self.also))


@dataclass(frozen=True)
class TableDef:
    name: str
    columns: tuple[ColumnDef, ...]
    doc: str = ""
    # Labels a derived table inherits from its inputs beyond its own columns' (no laundering: a
    # table derived from this one inherits them in turn).
    inherited: frozenset[str] = frozenset()

    @property
    def labels(self) -> frozenset[str]:
        return frozenset().union(*(c.labels for c in self.columns)) | self.inherited

    @property
    def plain(self) -> tuple[ColumnDef, ...]:
        return tuple(c for c in self.columns if not c.sealed)

    @property
    def sealed(self) -> tuple[ColumnDef, ...]:
        return tuple(c for c in self.columns if c.sealed)

    def column(self, name: str) -> ColumnDef:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def arrow_schema(self, *, sealed: bool = True) -> pa.Schema:
        cols = self.columns if sealed else self.plain
        return pa.schema([pa.field(c.name, c.type) for c in cols])


TS = pa.timestamp("us", tz="UTC")


def _common() -> tuple[ColumnDef, ...]:
    return (
        ColumnDef("subject", pa.string(), "subject_identity", doc="pseudonymous person"),
        ColumnDef("segment_id", pa.string(), "device_meta"),
        ColumnDef("seq", pa.int32(), "device_meta", doc="row position within the segment"),
        ColumnDef("t", pa.float64(), "device_meta", doc="seconds on the recorder's monotonic clock"),
        ColumnDef("wall_time", TS, "device_meta"),
    )


SEGMENTS = TableDef("curated.segments", (
    ColumnDef("subject", pa.string(), "subject_identity"),
    ColumnDef("segment_id", pa.string(), "device_meta"),
    ColumnDef("device_id", pa.string(), "subject_identity"),
    ColumnDef("session_id", pa.string(), "device_meta"),
    ColumnDef("content_hash", pa.string(), "device_meta"),
    ColumnDef("started_at", TS, "device_meta"),
    ColumnDef("ended_at", TS, "device_meta"),
    ColumnDef("wall_offset", pa.float64(), "device_meta"),
    ColumnDef("screen_width", pa.int32(), "device_meta"),
    ColumnDef("screen_height", pa.int32(), "device_meta"),
    ColumnDef("monitors", pa.string(), "device_meta", doc="JSON list of monitors"),
    ColumnDef("scope_name", pa.string(), "device_meta"),
    ColumnDef("scope_version", pa.int32(), "device_meta"),
    ColumnDef("purposes", pa.list_(pa.string()), "device_meta", doc="purposes of the scope it was captured under"),
    ColumnDef("retention_days", pa.int32(), "device_meta"),
    ColumnDef("curated_at", TS, "device_meta"),
), "one row per curated segment")

EVENTS = TableDef("curated.events", (
    *_common(),
    ColumnDef("kind", pa.string(), "input_events"),
    ColumnDef("stream", pa.string(), "input_events", doc="'typing' or 'ai_prompt' for key rows"),
    ColumnDef("modifiers", pa.list_(pa.string()), "input_events"),
    ColumnDef("x", pa.int32(), "input_events"),
    ColumnDef("y", pa.int32(), "input_events"),
    ColumnDef("button", pa.int32(), "input_events"),
    ColumnDef("dx", pa.int32(), "input_events"),
    ColumnDef("dy", pa.int32(), "input_events"),
    ColumnDef("window_id", pa.int64(), "device_meta"),
    ColumnDef("finding", pa.string(), "input_events", doc="kind of secret a redaction marker stands for"),
    ColumnDef("keycode", pa.int32(), "typed_text", sealed=True),
    ColumnDef("keysym", pa.int64(), "typed_text", sealed=True),
    ColumnDef("keysym_name", pa.string(), "typed_text", sealed=True),
    ColumnDef("char", pa.string(), "typed_text", sealed=True),
    ColumnDef("prompt_keysym_name", pa.string(), "ai_prompt", sealed=True),
    ColumnDef("prompt_char", pa.string(), "ai_prompt", sealed=True),
), "input events: keys (typed text sealed), pointer, wheel, redaction markers")

ACTIONS = TableDef("curated.actions", (
    *_common(),
    ColumnDef("kind", pa.string(), "input_events", doc="key, button or scroll"),
    ColumnDef("t_end", pa.float64(), "device_meta", doc="release time (equal to t for a scroll notch)"),
    ColumnDef("start_seq", pa.int32(), "device_meta", doc="seq in curated.events of the press"),
    ColumnDef("end_seq", pa.int32(), "device_meta", doc="seq in curated.events of the release (null if none)"),
    ColumnDef("button", pa.int32(), "input_events"),
    ColumnDef("x", pa.int32(), "input_events", doc="pointer at the press"),
    ColumnDef("y", pa.int32(), "input_events"),
    ColumnDef("end_x", pa.int32(), "input_events", doc="pointer at the release (a drag ends elsewhere)"),
    ColumnDef("end_y", pa.int32(), "input_events"),
    ColumnDef("dx", pa.int32(), "input_events"),
    ColumnDef("dy", pa.int32(), "input_events"),
    ColumnDef("window_id", pa.int64(), "device_meta"),
    ColumnDef("stream", pa.string(), "input_events", doc="keys: typing or ai_prompt"),
), "raw action spans: each key and button from press to release, each scroll notch "
   "(what was typed stays in curated.events, sealed)")

WINDOWS = TableDef("curated.windows", (
    *_common(),
    ColumnDef("window_id", pa.int64(), "device_meta"),
    ColumnDef("wm_instance", pa.string(), "device_meta"),
    ColumnDef("wm_class", pa.string(), "device_meta"),
    ColumnDef("process", pa.string(), "device_meta"),
    ColumnDef("x", pa.int32(), "device_meta"),
    ColumnDef("y", pa.int32(), "device_meta"),
    ColumnDef("width", pa.int32(), "device_meta"),
    ColumnDef("height", pa.int32(), "device_meta"),
    ColumnDef("in_scope", pa.bool_(), "device_meta"),
    ColumnDef("ai_assistant", pa.bool_(), "device_meta"),
    ColumnDef("title", pa.string(), "window_title", sealed=True),
), "the window in focus over time")

FRAMES = TableDef("curated.frames", (
    *_common(),
    ColumnDef("frame_seq", pa.int64(), "device_meta"),
    ColumnDef("grabbed_at", pa.float64(), "device_meta", doc="when the pixels were grabbed (t is the time the "
              "frame is known to show: for a before-action frame, the latest moment it was still current)"),
    ColumnDef("reason", pa.string(), "device_meta"),
    ColumnDef("width", pa.int32(), "device_meta"),
    ColumnDef("height", pa.int32(), "device_meta"),
    ColumnDef("keyframe", pa.bool_(), "device_meta"),
    ColumnDef("windows", pa.string(), "device_meta", doc="JSON stacking: ids, classes, rectangles, masked"),
    ColumnDef("masked_area", pa.int64(), "device_meta"),
    ColumnDef("screen_findings", pa.int32(), "device_meta", doc="boxes the redact stage filled in this frame"),
    ColumnDef("withheld", pa.bool_(), "device_meta", doc="the redact stage could not check this frame: it has "
              "no pixels (never shown)"),
    ColumnDef("media_offset", pa.int64(), "screen_content", doc="where the access unit starts in the media blob"),
    ColumnDef("media_length", pa.int64(), "screen_content"),
), "screen frames; the pixels are in a per-segment sealed media blob")

MARKERS = TableDef("curated.markers", (
    *_common(),
    ColumnDef("name", pa.string(), "device_meta"),
    ColumnDef("detail", pa.string(), "typed_text", sealed=True, doc="JSON; task titles are typed text"),
), "recorder lifecycle and contributor task markers")

VAULT = TableDef("curated.vault", (
    ColumnDef("subject", pa.string(), "subject_identity"),
    ColumnDef("table_name", pa.string(), "device_meta"),
    ColumnDef("column_name", pa.string(), "device_meta"),
    ColumnDef("segment_id", pa.string(), "device_meta"),
    ColumnDef("label", pa.string(), "device_meta"),
    ColumnDef("rows", pa.int32(), "device_meta"),
    ColumnDef("created_at", TS, "device_meta"),
    ColumnDef("block", pa.binary(), "typed_text", doc="sealed Arrow IPC of the column's values",
              also=("ai_prompt", "window_title", "screen_content", "subject_identity")),
), "sealed column blocks (never granted; governance reads them on a reader's behalf)")

CURATED = (SEGMENTS, EVENTS, ACTIONS, WINDOWS, FRAMES, MARKERS)
ALL = (*CURATED, VAULT)
BY_NAME = {t.name: t for t in ALL}
