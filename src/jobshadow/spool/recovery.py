"""Finalise segments left open by a recorder that died (device trust zone).

A ``.part`` file holds sealed chunks up to the last flush before the crash. Recovery keeps the
authenticated prefix, reads the MCAP records it contains up to the first incomplete one, and
writes them into a new, properly finished segment with a ``recovered`` metadata record. Tampered
files are not "recovered": they are reported and moved aside untouched.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from jobshadow.crypto.sealed import SealedWriter
from jobshadow.errors import SpoolCorrupt, Truncated
from jobshadow.segment.format import META_RECOVERED, META_SEGMENT
from jobshadow.segment.writer import SegmentWriter
from jobshadow.spool.keys import SpoolKey
from jobshadow.spool.store import OPEN, SpoolStore, open_segment

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecoveryReport:
    segment_id: str
    outcome: str  # "recovered" | "empty" | "corrupt"
    messages: int
    detail: str
    path: Path | None


def recover_open_segments(store: SpoolStore, key: SpoolKey) -> list[RecoveryReport]:
    """Finalise every ``.part`` segment. Call only while holding the recorder lock."""
    reports = []
    for seg in store.list():
        if seg.state == "open":
            reports.append(recover_one(store, key, seg.path))
    return reports


def recover_one(store: SpoolStore, key: SpoolKey, path: Path) -> RecoveryReport:
    seg_id = path.name[: -len(OPEN)]
    try:
        opened, content = open_segment(path, key, allow_unfinished=True)
    except Truncated as exc:  # the header itself is cut: nothing authenticated survives
        path.unlink()
        return RecoveryReport(seg_id, "empty", 0, str(exc), None)
    except SpoolCorrupt as exc:
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
        log.error("segment %s failed authentication; moved aside", seg_id)
        return RecoveryReport(seg_id, "corrupt", 0, str(exc), aside)
    if not content.messages:
        path.unlink()
        return RecoveryReport(seg_id, "empty", 0, "no complete records before the crash", None)
    final = store.final_path(seg_id)
    tmp = final.with_name(final.name + ".recovering")
    meta = dict(content.segment_meta) or {"segment_id": seg_id}
    with tmp.open("wb") as raw:
        sealed = SealedWriter(raw, key.reveal(), content="mcap", extra={"segment_id": seg_id})
        writer = SegmentWriter(sealed, meta)
        for msg in sorted(content.messages, key=lambda m: m.log_time):
            writer.write_raw(msg.topic, msg.log_time, msg.data)
        for name, values in content.metadata.items():
            if name != META_SEGMENT:
                writer.add_metadata(name, values)
        writer.add_metadata(META_RECOVERED, {
            "recovered_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "reason": opened.problem or content.problem or "recorder stopped without finishing",
            "messages": len(content.messages),
        })
        writer.finish({"finished_by": "recovery", "counts": writer.counts, "frames": writer.frames})
        sealed.finish()
    os.replace(tmp, final)
    path.unlink()
    return RecoveryReport(seg_id, "recovered", len(content.messages), opened.problem or "", final)
