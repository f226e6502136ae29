"""Turn landed segments into curated tables, exactly once (curated zone; runs as the pipeline).

For each landed segment not yet curated: open it through the governance door, parse its MCAP
channels, pseudonymise the person, pass its screen through the redact stage (every frame read and
filled where secrets or personal data show; a frame that cannot be checked is withheld, never
passed through; audited as the ``screen_redaction`` declassifier step), and append rows to
``curated.events``, ``windows``, ``frames`` and ``markers`` (sealed columns go to the vault under
the subject's key), store the redacted screen as a sealed media blob, and finally a
``curated.segments`` row — written last, so its presence means the segment is complete. A
segment interrupted half-way is cleaned up and redone.

Typed keys in AI-assistant windows (ChatGPT, Claude, Gemini, Copilot, …) are kept apart from
other typing: their characters go to the ``ai_prompt``-labelled columns (``curate.assistants``
decides which windows those are, once).

This stage runs above both the lake's table definitions (``jobshadow.lake``) and the governance
door it writes through: neither of those imports it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from jobshadow.curate.rows import segment_tables
from jobshadow.govern import PIPELINE, SCREEN_REDACTION, Governance, KeyUnavailable, both, eq
from jobshadow.lake import curated
from jobshadow.redact.media import MediaReport, redact_media

log = logging.getLogger(__name__)

PURPOSE = "processing"


@dataclass
class CurationReport:
    curated: int = 0
    skipped: int = 0
    failed: int = 0
    erased: int = 0
    rows: int = 0
    frames: int = 0
    frames_redacted: int = 0  # frames in which the redact stage filled something
    frames_withheld: int = 0  # frames it could not check: curated without pixels, never shown
    paused: bool = False


def curate(gov: Governance, *, limit: int | None = None, progress: bool = False) -> CurationReport:
    """Curate every landed segment not curated yet (idempotent; safe to re-run after a crash).

    ``progress`` shows a progress bar on stderr (for the CLI).
    """
    report = CurationReport()
    if gov.landing_paused():
        log.warning("the landing zone is quarantined (programme paused); nothing is curated")
        report.paused = True
        return report
    landing = gov.read(PIPELINE, PURPOSE, "landing.segments", audit_subjects=False).data
    done = set(gov.read(PIPELINE, PURPOSE, curated.SEGMENTS.name, ["content_hash"],
                        audit_subjects=False).data.column("content_hash").to_pylist())
    todo = [r for r in landing.to_pylist() if r["content_hash"] not in done]
    for row in landing.to_pylist():
        if row["content_hash"] in done:
            # Curated before; a crash may have left its landed blob behind.
            gov.discard_landed(PIPELINE, PURPOSE, row["blob_uri"], row["content_hash"])
            report.skipped += 1
    if limit is not None:
        todo = todo[:limit]
    with _progress(len(todo), progress) as advance:
        for row in todo:
            try:
                rows, screen = curate_one(gov, row)
                report.rows += rows
                report.curated += 1
                report.frames += screen.frames
                report.frames_redacted += screen.redacted
                report.frames_withheld += screen.withheld
            except KeyUnavailable:
                # The person was erased after this segment landed: it must never enter the lake.
                gov.discard_landed(PIPELINE, PURPOSE, row["blob_uri"], row["content_hash"])
                report.erased += 1
            except Exception:  # one bad segment must not stop the others
                report.failed += 1
                log.exception("curation of %s failed", row["segment_id"])
            advance()
    return report


@contextlib.contextmanager
def _progress(total: int, show: bool) -> Iterator[Callable[[], None]]:
    if not show or total < 2:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("curating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True)) as bar:
        task = bar.add_task("curate", total=total)
        yield lambda: bar.advance(task)


def curate_one(gov: Governance, landing: dict[str, Any]) -> tuple[int, MediaReport]:
    plaintext = gov.open_landed(PIPELINE, PURPOSE, landing["blob_uri"], landing["content_hash"])
    subject = gov.subject_for(landing["person_id"])
    tables, media = segment_tables(plaintext, subject, landing)
    seg = tables[curated.SEGMENTS.name].column("segment_id")[0].as_py()
    # The redact stage: curated media hold only frames read and filled, or none (withheld).
    tables[curated.FRAMES.name], media, screen = redact_media(tables[curated.FRAMES.name], media)
    gov.declassify_step(PIPELINE, PURPOSE, SCREEN_REDACTION, f"media:{seg}", subject, screen.as_detail())
    # A previous attempt may have stopped half-way: remove its rows first.
    for defn in (curated.EVENTS, curated.ACTIONS, curated.WINDOWS, curated.FRAMES, curated.MARKERS, curated.VAULT):
        # Only this person's rows of the segment: a segment id is one device's (issue 12).
        gov.delete_where(PIPELINE, PURPOSE, defn.name, both(eq("segment_id", seg), eq("subject", subject)),
                         "re-curation of a segment")
    rows = 0
    if media:
        gov.write_media(PIPELINE, PURPOSE, subject, seg, media)
    for name in (curated.EVENTS.name, curated.ACTIONS.name, curated.WINDOWS.name, curated.FRAMES.name,
                 curated.MARKERS.name, curated.SEGMENTS.name):
        rows += gov.write(PIPELINE, PURPOSE, name, tables[name])
    # The lake now holds the segment sealed per subject; the landing copy (sealed to the shared
    # landing key, so not covered by crypto-shredding) is no longer needed.
    gov.discard_landed(PIPELINE, PURPOSE, landing["blob_uri"], landing["content_hash"])
    return rows, screen
