"""Subject rights on a real lake: export everything held about a person, then erase it for good."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobshadow.govern.door import Governance
from jobshadow.govern.expr import eq
from jobshadow.govern.keys import KeyUnavailable
from jobshadow.govern.rights import erase_subject, export_subject, resolve_subject
from jobshadow.testing.fleet import FleetDevice
from jobshadow.testing.lake import BuiltLake
from tests.govern.conftest import ML, PROMPT_CANARY, TITLE_CANARY, TYPED_CANARY, server_files

pytestmark = pytest.mark.slow

CANARIES = (TYPED_CANARY, TITLE_CANARY, PROMPT_CANARY)


def _typed(rows: list[dict[str, object]], column: str) -> str:
    keys = [r for r in rows if r.get("kind") == "key_press"]
    keys.sort(key=lambda r: (str(r["segment_id"]), int(r["seq"])))  # type: ignore[call-overload]
    return "".join(str(r[column]) for r in keys if r.get(column))


def _clear_text_anywhere(root: Path, needles: tuple[str, ...]) -> list[str]:
    """Every file holding a needle as raw bytes, or as a value of a Parquet string column."""
    found = []
    for path in server_files(root):
        data = path.read_bytes()
        if any(n.encode() in data for n in needles):
            found.append(str(path))
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            for f in table.schema:
                if pa.types.is_string(f.type):
                    text = "\n".join(v for v in table.column(f.name).to_pylist() if v)
                    if any(n in text for n in needles):
                        found.append(f"{path}:{f.name}")
    return found


def test_curated_lake_holds_no_sensitive_value_in_clear(gov: Governance, built: BuiltLake) -> None:
    # Typed characters are per-key rows; a run of them in clear would spell the canary.
    assert _clear_text_anywhere(built.settings.home / "server", CANARIES) == []
    typed_chars = gov.tables.scan("curated.events", ["kind", "char", "segment_id", "seq"], decrypt={"char"})
    assert TYPED_CANARY in _typed(typed_chars.to_pylist(), "char")  # …yet the door can read it back


def test_export_gathers_everything_with_purposes_recipients_and_retention(gov: Governance, built: BuiltLake,
                                                                          tmp_path: Path) -> None:
    subject = resolve_subject(gov, built.people["alice@example.com"])
    gov.query(ML, "model_training", "SELECT title FROM curated.windows")  # a recipient to report
    out = tmp_path / "export"
    manifest = export_subject(gov, subject, out, by="dpo@example.com")
    assert (out.stat().st_mode & 0o777) == 0o700
    assert set(manifest["tables"]) >= {"curated.events", "curated.windows", "curated.segments", "curated.markers"}
    events = [json.loads(line) for line in (out / "tables" / "curated.events.jsonl").read_text().splitlines()]
    assert TYPED_CANARY in _typed(events, "char")
    assert PROMPT_CANARY in _typed(events, "prompt_char")
    assert {e["subject"] for e in events} == {subject}
    windows = (out / "tables" / "curated.windows.jsonl").read_text()
    assert TITLE_CANARY in windows and "bob" not in windows.lower()
    cols = manifest["tables"]["curated.events"]["columns"]
    assert cols["char"]["labels"] == ["typed_text"] and "model_training" in cols["char"]["purposes"]
    assert cols["prompt_char"]["retention_days"] == 180
    assert any(r["principal"] == ML and r["purpose"] == "model_training" and r["table"] == "curated.windows"
               for r in manifest["recipients"])
    assert manifest["collection"] and all(c["purposes"] == ["model_training"] for c in manifest["collection"])
    assert len(manifest["media"]) == 1 and (out / manifest["media"][0]).stat().st_size > 0
    exports = [r for _, r in gov.audit_records(subject=subject) if r.action == "export"]
    assert exports and exports[-1].principal == "dpo@example.com"


def test_export_refuses_a_non_empty_folder(gov: Governance, built: BuiltLake, tmp_path: Path) -> None:
    (tmp_path / "x").write_text("keep me")
    with pytest.raises(Exception, match="not empty"):
        export_subject(gov, resolve_subject(gov, built.people["bob@example.com"]), tmp_path, by="dpo@example.com")
    assert (tmp_path / "x").read_text() == "keep me"


def test_erasure_makes_everything_unreadable_at_once_then_removes_it(gov: Governance, built: BuiltLake) -> None:
    alice = resolve_subject(gov, built.people["alice@example.com"])
    bob = resolve_subject(gov, built.people["bob@example.com"])
    # A derived dataset holding alice's typed text, made before the erasure.
    rows = gov.read("service:pipeline", "processing", "curated.events",
                    ["subject", "segment_id", "seq", "kind", "char"], where=eq("subject", alice)).data
    gov.write_derived("service:pipeline", "processing", "derived.alice_keys", rows, inputs=["curated.events"],
                      column_labels={"subject": ["subject_identity"], "segment_id": ["device_meta"],
                                     "seq": ["device_meta"], "kind": ["input_events"], "char": ["typed_text"]},
                      column_sources={"char": ["curated.events.char"]})
    keys_db = gov.storage.paths.keys_db
    with sqlite3.connect(keys_db) as db:
        wrapped = db.execute("SELECT wrapped_dek FROM subjects WHERE subject=?", (alice,)).fetchone()[0]

    report = erase_subject(gov, alice, by="dpo@example.com")

    assert report.key_destroyed and report.unreadable_after_s <= 1.0
    assert report.residual == []
    assert report.rows_deleted["curated.events"] > 0 and report.rows_deleted["derived.alice_keys"] == rows.num_rows
    with pytest.raises(KeyUnavailable):
        gov.keys.dek(alice)
    for name in gov.tables.names():
        if "subject" in {c.name for c in gov.tables.definition(name).columns}:
            assert gov.tables.scan(name, ["subject"], eq("subject", alice)).num_rows == 0, name
    assert gov.storage.object_store.list(f"curated/media/{alice}") == []
    # No copy of the wrapped key survives in the key database or its journal.
    for path in keys_db.parent.glob(keys_db.name + "*"):
        assert bytes(wrapped) not in path.read_bytes(), path
    # Nothing alice typed or saw is left anywhere, even as ciphertext-adjacent plain text.
    assert _clear_text_anywhere(built.settings.home / "server", CANARIES) == []
    # Bob is untouched.
    bob_rows = gov.tables.scan("curated.events", ["kind", "char", "segment_id", "seq"], eq("subject", bob),
                               decrypt={"char"}).to_pylist()
    assert "bob writes notes" in _typed(bob_rows, "char")
    erased = [r for _, r in gov.audit_records(subject=alice) if r.action == "erase"]
    assert [r.reason for r in erased] == ["erasure requested", "erasure completed"]


def test_segments_landing_after_erasure_never_enter_the_lake(gov: Governance, built: BuiltLake,
                                                            tmp_path: Path) -> None:
    """Erasure ends the person's enrolment: their devices are refused from then on; a segment of
    theirs that reached the landing zone after the erasure looked there is discarded by curation
    (their key is gone); and the same e-mail enrolled again later is a new person."""
    from jobshadow.config import UploadSettings
    from jobshadow.curate import curate
    from jobshadow.durations import Duration
    from jobshadow.govern.landing import LandingZone
    from jobshadow.testing.fleet import LiveCollector, enrol_device, make_segment
    from jobshadow.upload.uploader import Uploader

    def upload(d: FleetDevice) -> int:
        up = Uploader(d.home, UploadSettings(auto_approve_after=Duration(0), bandwidth_bytes_per_s=0),
                      d.identity, d.key)
        try:
            return up.run_once().landed
        finally:
            up.close()

    collector = LiveCollector(built.settings.home)
    try:
        device = enrol_device(collector, tmp_path / "erin-device", "erin@example.com")
        make_segment(device.home, events=20, text="erin was here", title="Notes")
        assert upload(device) == 1
        assert curate(gov).curated == 1
        old_person = device.identity.person_id
        erin = gov.keys.pseudonym(old_person)
        erase_subject(gov, erin, by="dpo@example.com")
        make_segment(device.home, events=20, text="typed after erasure", title="Late", index=2)
        assert upload(device) == 0  # revoked by the erasure: nothing more lands from it
        # A segment of hers already on its way when the erasure looked at the landing zone: another
        # device lands one, then its landing row is made hers (the race, without the timing).
        other = enrol_device(collector, tmp_path / "late-device", "late@example.com")
        make_segment(other.home, events=20, text="typed after erasure", title="Late")
        assert upload(other) == 1
    finally:
        collector.stop()
    landing = LandingZone(gov.storage)
    row = next(r for r in landing.scan_rows() if r["person_id"] == other.identity.person_id)
    gov.tables.delete_rows("landing.segments", eq("content_hash", row["content_hash"]))
    landing.append([{**row, "person_id": old_person}], "test-race")
    report = curate(gov)
    assert report.erased == 1 and report.curated == 0 and report.failed == 0
    assert gov.tables.scan("curated.events", ["subject"], eq("subject", erin)).num_rows == 0
    assert _clear_text_anywhere(built.settings.home / "server", ("typed after erasure", "erin was here")) == []
    # The e-mail address no longer leads to her: enrolled again, she is someone new.
    again = gov.people.create_enroll_code("erin@example.com")[2]
    assert again != old_person and gov.keys.pseudonym(again) != erin
