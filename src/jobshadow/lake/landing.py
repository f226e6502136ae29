"""The landing table: one row per landed segment, metadata only (landing zone).

The segment itself stays sealed to the landing key in the object store; this table records where
it is and what it is, so later stages can process landed segments exactly once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa
from pyiceberg.schema import Schema
from pyiceberg.types import BooleanType, IntegerType, LongType, NestedField, StringType, TimestamptzType

NAMESPACE = "landing"
TABLE = "landing.segments"

SCHEMA = Schema(
    NestedField(1, "content_hash", StringType(), required=True, doc="SHA-256 of the segment's MCAP bytes"),
    NestedField(2, "payload_sha256", StringType(), required=True, doc="SHA-256 of the sealed blob as uploaded"),
    NestedField(3, "device_id", StringType(), required=True),
    NestedField(4, "person_id", StringType(), required=True, doc="pseudonymous person id"),
    NestedField(5, "segment_id", StringType(), required=True),
    NestedField(6, "session_id", StringType(), required=False),
    NestedField(7, "blob_uri", StringType(), required=True),
    NestedField(8, "size_bytes", LongType(), required=True),
    NestedField(9, "landed_at", TimestamptzType(), required=True),
    NestedField(10, "started_at", TimestamptzType(), required=False),
    NestedField(11, "ended_at", TimestamptzType(), required=False),
    NestedField(12, "schema_version", IntegerType(), required=True),
    NestedField(13, "quarantined", BooleanType(), required=True),
    NestedField(14, "batch_id", StringType(), required=True, doc="the micro-batch that committed the row"),
    NestedField(15, "scope_name", StringType(), required=False, doc="collection scope active when it landed"),
    NestedField(16, "scope_version", IntegerType(), required=False),
    NestedField(17, "purposes", StringType(), required=False, doc="JSON list of the scope's purposes"),
    NestedField(18, "retention_days", IntegerType(), required=False),
)

# Classification labels (table level and per column); issue-5 governance enforces them.
TABLE_LABELS = ("device_meta", "subject_identity")
COLUMN_LABELS = {
    "device_id": "device_meta", "person_id": "subject_identity", "segment_id": "device_meta",
    "session_id": "device_meta", "blob_uri": "device_meta", "content_hash": "device_meta",
    "payload_sha256": "device_meta", "size_bytes": "device_meta", "landed_at": "device_meta",
    "started_at": "device_meta", "ended_at": "device_meta", "schema_version": "device_meta",
    "quarantined": "device_meta", "batch_id": "device_meta", "scope_name": "device_meta",
    "scope_version": "device_meta", "purposes": "device_meta", "retention_days": "device_meta",
}
ARROW_TYPES = {
    "size_bytes": "int64", "landed_at": "timestamp[us, tz=UTC]", "started_at": "timestamp[us, tz=UTC]",
    "ended_at": "timestamp[us, tz=UTC]", "schema_version": "int32", "quarantined": "bool",
    "scope_version": "int32", "retention_days": "int32",
}


def to_arrow(rows: list[dict[str, Any]]) -> pa.Table:
    def col(name: str) -> list[Any]:
        return [r.get(name) for r in rows]

    ts = pa.timestamp("us", tz="UTC")
    return pa.table({
        "content_hash": pa.array(col("content_hash"), pa.string()),
        "payload_sha256": pa.array(col("payload_sha256"), pa.string()),
        "device_id": pa.array(col("device_id"), pa.string()),
        "person_id": pa.array(col("person_id"), pa.string()),
        "segment_id": pa.array(col("segment_id"), pa.string()),
        "session_id": pa.array(col("session_id"), pa.string()),
        "blob_uri": pa.array(col("blob_uri"), pa.string()),
        "size_bytes": pa.array(col("size_bytes"), pa.int64()),
        "landed_at": pa.array(col("landed_at"), ts),
        "started_at": pa.array(col("started_at"), ts),
        "ended_at": pa.array(col("ended_at"), ts),
        "schema_version": pa.array(col("schema_version"), pa.int32()),
        "quarantined": pa.array(col("quarantined"), pa.bool_()),
        "batch_id": pa.array(col("batch_id"), pa.string()),
        "scope_name": pa.array(col("scope_name"), pa.string()),
        "scope_version": pa.array(col("scope_version"), pa.int32()),
        "purposes": pa.array(col("purposes"), pa.string()),
        "retention_days": pa.array(col("retention_days"), pa.int32()),
    })


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
