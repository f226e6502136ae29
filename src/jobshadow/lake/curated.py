"""The curated tables: what a landed segment becomes, column by column, with labels (curated zone).

The tables that hold records (``events``, ``windows``, ``frames``, ``markers``) are generated from
the record structs of ``jobshadow.records`` (``jobshadow.lake.from_records``), plus the columns
curation adds itself (the stream a key belongs to, media offsets, what the redact stage found);
``segments`` (segment metadata), ``actions`` (spans curation derives) and ``vault`` are defined
here. Every column carries exactly one classification label; a table's labels are the union of its
columns'. Columns marked ``sealed`` never appear in the Iceberg table at all: their values are
stored per (subject, table, column, segment) as one AES-GCM block in ``curated.vault``, sealed
with the subject's data key, and governance splices them back in — decrypted only for a principal
and purpose the policy allows. Rows carry ``seq`` (their position within the segment) so blocks
and rows line up.
"""

from __future__ import annotations

import pyarrow as pa

from jobshadow.lake.from_records import prompt_columns, table_columns
from jobshadow.lake.tabledef import TS, ColumnDef, TableDef
from jobshadow.records import (
    FocusChange,
    FrameDrop,
    FrameMeta,
    KeyEvent,
    Marker,
    MouseButton,
    MouseMove,
    Redaction,
    Scroll,
)

NAMESPACE = "curated"

# The records each table holds.
EVENT_RECORDS = (KeyEvent, MouseMove, MouseButton, Scroll, Redaction)
WINDOW_RECORDS = (FocusChange,)
FRAME_RECORDS = (FrameMeta,)
MARKER_RECORDS = (Marker, FrameDrop)


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

STREAM = ColumnDef("stream", pa.string(), "input_events", doc="'typing' or 'ai_prompt' for key rows")
EVENTS = TableDef("curated.events", (*_common(), *table_columns(
    EVENT_RECORDS, derived=(STREAM,),
    established=("kind", "stream", "modifiers", "x", "y", "button", "dx", "dy", "window_id", "finding")),
), "input events: keys (typed text sealed), pointer, wheel, redaction markers")
# Typed content of a key typed into an AI assistant is held in these columns instead (ai_prompt).
PROMPT_COLUMNS = prompt_columns(EVENT_RECORDS)
PROMPT_TWIN_OF = {twin: col for col, twin in PROMPT_COLUMNS.items()}

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

WINDOWS = TableDef("curated.windows", (*_common(), *table_columns(
    WINDOW_RECORDS, derived=(ColumnDef("in_scope", pa.bool_(), "device_meta"),
                             ColumnDef("ai_assistant", pa.bool_(), "device_meta")),
    established=("window_id", "wm_instance", "wm_class", "process", "x", "y", "width", "height", "in_scope",
                 "ai_assistant")),
), "the window in focus over time")

FRAMES = TableDef("curated.frames", (*_common(), *table_columns(
    FRAME_RECORDS, derived=(
        ColumnDef("screen_findings", pa.int32(), "device_meta", doc="boxes the redact stage filled in this frame"),
        ColumnDef("withheld", pa.bool_(), "device_meta", doc="the redact stage could not check this frame: it "
                  "has no pixels (never shown)"),
        ColumnDef("media_offset", pa.int64(), "screen_content", doc="where the access unit starts in the media blob"),
        ColumnDef("media_length", pa.int64(), "screen_content")),
    established=("frame_seq", "grabbed_at", "reason", "width", "height", "keyframe", "windows", "masked_area",
                 "screen_findings", "withheld", "media_offset", "media_length")),
), "screen frames; the pixels are in a per-segment sealed media blob")

MARKERS = TableDef("curated.markers", (*_common(), *table_columns(MARKER_RECORDS, established=("name",))),
                   "recorder lifecycle and contributor task markers")

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

__all__ = ["ACTIONS", "ALL", "BY_NAME", "CURATED", "EVENTS", "FRAMES", "MARKERS", "NAMESPACE", "PROMPT_COLUMNS",
           "PROMPT_TWIN_OF", "SEGMENTS", "STREAM", "TS", "VAULT", "WINDOWS", "ColumnDef", "TableDef"]
