"""The exposure scan finds each kind of exposure on a real lake, and the kill switch follows."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobshadow.errors import ConfigError
from jobshadow.govern.door import Finding, Governance
from jobshadow.testing.lake import BuiltLake
from tests.govern.conftest import TYPED_CANARY

ADMIN = "person:admin@example.com"

pytestmark = pytest.mark.slow


def kinds(findings: list[Finding]) -> set[str]:
    return {f.kind for f in findings}


def test_a_clean_lake_has_no_findings_and_each_scan_is_audited(gov: Governance) -> None:
    assert gov.scan() == []
    scans = [r for _, r in gov.audit_records() if r.action == "scan"]
    assert scans and scans[-1].purpose == "privacy_audit"


def test_a_local_audit_key_and_no_witnesses_are_warnings_not_findings(gov: Governance) -> None:
    """Issue 12: whoever controls the host could re-sign a rewritten audit log; say so, pause nothing."""
    assert gov.scan() == []
    warnings = gov.scan_warnings()
    assert kinds(warnings) == {"audit_key_local", "audit_unwitnessed"}
    assert str(gov.storage.audit_key_path) in next(w.resource for w in warnings if w.kind == "audit_key_local")


def test_grants_to_everyone_are_refused_before_they_exist(gov: Governance) -> None:
    """Issue 12: refused when made, not found by the scan afterwards (with every device paused)."""
    before = gov.state.grants()
    for who in ("*", "group:all-employees", "group:everyone"):
        with pytest.raises(ConfigError, match="everyone"):
            gov.grant(who, "read", "curated.windows", "model_training", 3600, by=ADMIN)
    assert gov.state.grants() == before
    refused = [r for _, r in gov.audit_records(table="curated.windows", decision="deny") if r.principal == ADMIN]
    assert len(refused) >= 3 and all(r.action == "administer" for r in refused[-3:])


def test_a_grant_for_a_purpose_no_label_of_the_table_allows_is_refused(gov: Governance) -> None:
    from jobshadow.govern import PIPELINE

    kinds_ = gov.read(PIPELINE, "processing", "curated.events", ["kind"]).data.slice(0, 5)
    gov.write_derived(PIPELINE, "processing", "derived.kinds", kinds_, inputs=["curated.events"],
                      column_labels={"kind": ["input_events"]}, column_sources={"kind": ["curated.events.kind"]})
    with pytest.raises(ConfigError, match="may ever serve privacy_audit"):  # event kinds never serve audits
        gov.grant("group:ml-team", "read", "derived.kinds", "privacy_audit", 3600, by=ADMIN)


def test_a_grant_to_a_large_group_is_refused_and_a_granted_group_cannot_grow_past_the_limit(
        gov: Governance, built: BuiltLake) -> None:
    limit = built.settings.govern.max_group_size
    for i in range(limit + 1):
        gov.state.add_member(f"person:p{i}@example.com", "group:big")
    with pytest.raises(ConfigError, match="more than"):
        gov.grant("group:big", "read", "curated.segments", "model_training", 3600, by=ADMIN)
    for i in range(limit):
        gov.state.add_member(f"person:q{i}@example.com", "group:almost")
    g, _ = gov.grant("group:almost", "read", "curated.segments", "model_training", 3600, by=ADMIN)
    try:
        with pytest.raises(ConfigError, match="more than"):
            gov.add_member("person:one-too-many@example.com", "group:almost", by=ADMIN)
    finally:
        gov.revoke(g.id, by=ADMIN)


def test_a_finding_pauses_capture_and_reads_until_a_reviewer_resumes(built: BuiltLake) -> None:
    """A broad grant made behind the door's back (straight into its state) is found; the kill
    switch then stops reads through the door too (audited), and only a reviewer resumes."""
    from jobshadow.errors import RequestRejected
    from jobshadow.govern.door import PolicyDenied
    from jobshadow.testing.lake import quiet_kill_switch
    from tests.govern.conftest import ML

    called: list[list[Finding]] = []
    with Governance(quiet_kill_switch(built.settings, pause=True), on_exposure=called.append) as gov:
        g = gov.state.grant("*", "read", "curated.windows", "model_training", 3600, by="person:intruder@example.com")
        try:
            findings = gov.scan()
            assert kinds(findings) == {"broad_grant"}
            gov.exposure_found(findings)
            assert called == [findings]
            prog = gov.control.programme()
            assert (prog["state"], prog["cause"]) == ("paused", "exposure")
            with pytest.raises(PolicyDenied, match="reads are stopped"):
                gov.query(ML, "model_training", "SELECT count(*) FROM curated.windows")
            refused = gov.audit_records(principal=ML, decision="deny")[-1][1]
            assert refused.action == "query" and "exposure" in refused.reason
            with pytest.raises(RequestRejected, match="reviewer"):
                gov.programme.resume_programme(by=ADMIN)  # not as a reviewer
        finally:
            gov.state.revoke_grant(g.id)
        assert gov.scan() == []
        gov.programme.resume_programme(by="person:reviewer@example.com", as_reviewer=True)
        assert gov.query(ML, "model_training", "SELECT count(*) AS n FROM curated.windows").num_rows == 1


def test_plaintext_planted_in_the_warehouse_or_object_store_is_found(gov: Governance, built: BuiltLake) -> None:
    warehouse = built.settings.home / "server" / "warehouse"
    leak = warehouse / "curated" / "events" / "data" / "leak.parquet"
    pq.write_table(pa.table({"note": [f"user typed login {TYPED_CANARY} done"]}), leak)
    blob = built.settings.home / "server" / "objects" / "curated" / "notes.txt"
    blob.write_text("an unsealed export")
    try:
        found = gov.scan()
        assert {f.resource for f in found if f.kind == "plaintext"} == {"file:leak.parquet", "blob:curated/notes.txt"}
    finally:
        leak.unlink()
        blob.unlink()
    assert gov.scan() == []


def test_unlabelled_tables_and_weakened_derived_labels_are_found(gov: Governance) -> None:
    from pyiceberg.schema import Schema
    from pyiceberg.types import NestedField, StringType

    catalog = gov.storage.catalog
    catalog.create_namespace_if_not_exists("rogue")
    catalog.create_table("rogue.copy", Schema(NestedField(1, "text", StringType(), required=False)))
    rows = gov.read("service:pipeline", "processing", "curated.events", ["subject", "segment_id", "seq", "kind", "char"]
                    ).data.slice(0, 5)
    gov.write_derived("service:pipeline", "processing", "derived.scan_copy", rows, inputs=["curated.events"],
                      column_labels={"subject": ["subject_identity"], "segment_id": ["device_meta"],
                                     "seq": ["device_meta"], "kind": ["input_events"], "char": ["typed_text"]},
                      column_sources={"char": ["curated.events.char"]})
    table = catalog.load_table("derived.scan_copy")
    with table.transaction() as tx:  # someone edits the catalog behind the door's back
        tx.set_properties({"jobshadow.labels": "device_meta,input_events,subject_identity",
                           "jobshadow.column.char.labels": "input_events"})
    gov.tables._defs.pop("derived.scan_copy", None)
    try:
        found = gov.scan()
        assert ("unlabelled", "table:rogue.copy") in {(f.kind, f.resource) for f in found}
        derived = [f.message for f in found if f.kind == "derived_labels"]
        assert any("lacks its inputs' labels" in m and "typed_text" in m for m in derived)
        assert any("column char" in m for m in derived)
    finally:
        catalog.drop_table("rogue.copy")
        catalog.drop_table("derived.scan_copy")
        gov.tables._defs.pop("derived.scan_copy", None)
    assert gov.scan() == []


def test_key_files_readable_by_others_are_found(gov: Governance) -> None:
    kek = gov.storage.kek_path
    os.chmod(kek, 0o644)
    try:
        assert ("key_file", f"file:{kek}") in {(f.kind, f.resource) for f in gov.scan()}
    finally:
        os.chmod(kek, 0o600)


def test_exports_readable_by_others_are_found(gov: Governance, built: BuiltLake, tmp_path: os.PathLike[str]) -> None:
    from pathlib import Path

    from jobshadow.govern.rights import export_subject

    out = Path(tmp_path) / "export"
    export_subject(gov, gov.keys.pseudonym(built.people["bob@example.com"]), out, by="dpo@example.com")
    assert gov.scan() == []
    (out / "manifest.json").chmod(0o644)
    found = [f for f in gov.scan() if f.kind == "export"]
    assert len(found) == 1 and "manifest.json" in found[0].message
    (out / "manifest.json").chmod(0o600)
    assert gov.scan() == []


def test_secrets_that_got_past_the_device_are_found_in_curated_text(tmp_path: Path) -> None:
    from jobshadow.testing.lake import SegmentSpec, build_lake

    # Segments written straight to the spool, as a faulty (or old) recorder would have.
    leaky = build_lake(tmp_path / "leaky", {
        "carol@example.com": [
            SegmentSpec(text="notes for today", title="bash: export AWS_ACCESS_KEY_ID=AKIAZ4QXW7PLM3NRT2VB"),
            SegmentSpec(text="mail me at jane.doe@example.com please", title="Terminal"),
        ],
    })
    with Governance(leaky.settings) as gov:
        found = [f for f in gov.scan() if f.kind == "sensitive_text"]
    where = {f.resource for f in found}
    assert where == {"table:curated.windows", "table:curated.events"}, found
    details = " ".join(f.message for f in found)
    assert "aws_access_key" in details and "email" in details
    assert "AKIAZ4" not in details and "jane.doe" not in details  # the finding never repeats the value
