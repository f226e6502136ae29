"""The governance door on a real lake: purpose-bound reads, masking, row rules, SQL, derived writes, audit."""

from __future__ import annotations

import pyarrow as pa
import pytest

from jobshadow.errors import ConfigError
from jobshadow.govern.door import Governance, PolicyDenied
from jobshadow.testing.lake import BuiltLake
from tests.govern.conftest import ML, PROMPT_CANARY, TITLE_CANARY, TYPED_CANARY

pytestmark = pytest.mark.slow


def typed(gov: Governance, principal: str, purpose: str) -> str:
    rows = gov.query(principal, purpose, "SELECT char FROM curated.events WHERE kind = 'key_press' "
                                         "AND stream = 'typing' ORDER BY segment_id, seq").column("char").to_pylist()
    return "".join(c or "" for c in rows)


def test_a_granted_group_reads_for_model_training_with_sealed_values_decrypted(gov: Governance) -> None:
    assert TYPED_CANARY in typed(gov, ML, "model_training")
    titles = gov.query(ML, "model_training", "SELECT title FROM curated.windows").column("title").to_pylist()
    assert TITLE_CANARY in titles


def test_forbidden_purposes_are_refused_whatever_the_grants(gov: Governance) -> None:
    for purpose in ("performance_evaluation", "hr_investigation", "productivity_analytics"):
        with pytest.raises(PolicyDenied, match="forbid-prohibited-purposes"):
            gov.read(ML, purpose, "curated.events")
        with pytest.raises(ConfigError, match="forbidden"):
            gov.grant(ML, "read", "curated.events", purpose, 3600, by="admin@example.com")


def test_nobody_else_reads_anything(gov: Governance) -> None:
    for who in ("person:someone@example.com", "service:etl", "group:ml-team-2"):
        with pytest.raises(PolicyDenied, match="no grant"):
            gov.read(who, "model_training", "curated.events")


def test_columns_whose_labels_do_not_allow_the_purpose_are_masked(gov: Governance) -> None:
    got = gov.read(ML, "model_training", "curated.events", ["kind", "subject"])
    assert got.masked == ["subject"]  # subject_identity does not serve model_training
    assert got.data.column("subject").null_count == got.data.num_rows > 0
    assert set(got.data.column("kind").to_pylist()) >= {"key_press", "mouse_move"}


def test_a_grant_for_one_purpose_does_not_serve_another(gov: Governance) -> None:
    with pytest.raises(PolicyDenied):
        gov.read(ML, "privacy_audit", "curated.events")


def test_ai_prompts_are_kept_apart_from_other_typing(gov: Governance) -> None:
    assert PROMPT_CANARY not in typed(gov, ML, "model_training")
    prompts = gov.query(ML, "model_training", "SELECT prompt_char FROM curated.events "
                        "WHERE stream = 'ai_prompt' AND kind = 'key_press' ORDER BY segment_id, seq")
    assert "".join(c or "" for c in prompts.column("prompt_char").to_pylist()).startswith(PROMPT_CANARY)
    flagged = gov.query(ML, "model_training", "SELECT title FROM curated.windows WHERE ai_assistant")
    assert flagged.column("title").to_pylist() == ["ChatGPT - Chromium"]


def test_subject_access_sees_only_the_person_s_own_rows(gov: Governance, built: BuiltLake) -> None:
    gov.add_principal("person:alice@example.com", "dpo@example.com", person_id=built.people["alice@example.com"])
    mine = gov.read("person:alice@example.com", "subject_access", "curated.windows", ["subject", "title"]).data
    assert set(mine.column("subject").to_pylist()) == {gov.keys.pseudonym(built.people["alice@example.com"])}
    assert TITLE_CANARY in mine.column("title").to_pylist()
    with pytest.raises(PolicyDenied):
        gov.read("person:bob@example.com", "subject_access", "curated.windows")  # not linked: no subject


def test_withdrawn_consent_drops_the_person_from_training_reads_at_once(gov: Governance, built: BuiltLake) -> None:
    bob = built.people["bob@example.com"]
    before = gov.query(ML, "model_training", "SELECT count(*) AS n FROM curated.windows").column("n")[0].as_py()
    gov.programme.set_consent(bob, "withdrawn", "server", by="person:dpo@example.com")
    try:
        after = gov.query(ML, "model_training", "SELECT count(*) AS n FROM curated.windows").column("n")[0].as_py()
        assert after == before - 1
        assert "bob writes notes" not in typed(gov, ML, "model_training")
    finally:
        gov.programme.set_consent(bob, "given", "server", by="person:dpo@example.com")
    assert "bob writes notes" in typed(gov, ML, "model_training")


@pytest.mark.parametrize("sql, message", [
    ("SELECT * FROM read_parquet('/etc/passwd')", "table function"),
    ("SELECT * FROM read_csv_auto('/etc/passwd')", "table function"),
    ("COPY (SELECT 1) TO '/tmp/x.csv'", "single SELECT"),
    ("DELETE FROM curated.events", "single SELECT"),
    ("ATTACH '/tmp/x.db' AS x", "single SELECT"),
    ("SELECT 1; SELECT 2", "exactly one"),
    ("SELECT * FROM curated.nope", "no governed table"),
    ("", "empty"),
])
def test_queries_cannot_leave_the_door(gov: Governance, sql: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        gov.query(ML, "model_training", sql)


def test_files_cannot_be_read_by_name_from_sql(gov: Governance) -> None:
    with pytest.raises(ConfigError):
        gov.query(ML, "model_training", "SELECT * FROM '/etc/passwd'")


def test_only_the_columns_a_query_names_are_read_and_audited(gov: Governance) -> None:
    gov.query(ML, "model_training", "SELECT kind, count(*) FROM curated.events GROUP BY kind")
    last = [r for _, r in gov.audit_records(table="curated.events", principal=ML) if r.subject is None][-1]
    assert last.detail["columns"] == "kind"


def test_every_allow_and_deny_is_in_the_audit_log(gov: Governance) -> None:
    with pytest.raises(PolicyDenied):
        gov.read("person:eve@example.com", "hr_investigation", "curated.windows")
    denied = gov.audit_records(principal="person:eve@example.com", decision="deny")
    assert denied and denied[-1][1].resource == "table:curated.windows"
    assert denied[-1][1].purpose == "hr_investigation"
    assert "forbid-prohibited-purposes" in denied[-1][1].policy_ids
    trail = gov.verify_audit()
    assert trail.ok and not trail.bad_files


def test_no_data_values_reach_the_audit_log(gov: Governance) -> None:
    typed(gov, ML, "model_training")
    leaves = b"".join(gov._audit.leaf(i) for i in range(gov._audit.size))
    for canary in (TYPED_CANARY, TITLE_CANARY, PROMPT_CANARY):
        assert canary.encode() not in leaves


def test_access_is_refused_when_the_audit_log_cannot_be_written(gov: Governance, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    from jobshadow.govern.audit import AuditWriteError

    def broken(records: object) -> None:
        raise AuditWriteError("disk full")

    monkeypatch.setattr(gov._audit, "append_many", broken)
    with pytest.raises(PolicyDenied, match="audit log cannot be written"):
        gov.read(ML, "model_training", "curated.events", ["kind"])


def _events_sample(gov: Governance) -> pa.Table:
    return gov.read("service:pipeline", "processing", "curated.events",
                    ["subject", "segment_id", "seq", "kind", "char"]).data.slice(0, 20)


def test_derived_tables_carry_their_inputs_labels(gov: Governance) -> None:
    data = _events_sample(gov)
    defn = gov.write_derived("service:pipeline", "processing", "derived.keys_copy", data, inputs=["curated.events"],
                             column_labels={"subject": ["subject_identity"], "segment_id": ["device_meta"],
                                            "seq": ["device_meta"], "kind": ["input_events"],
                                            "char": ["typed_text"]},
                             column_sources={"char": ["curated.events.char"], "kind": ["curated.events.kind"]})
    assert defn.labels >= gov.tables.definition("curated.events").labels
    assert defn.column("char").sealed  # typed text never lies in the warehouse in clear
    # A table derived from the copy, keeping only `kind`, still carries typed_text: no laundering.
    kinds = gov.read("service:pipeline", "processing", "derived.keys_copy", ["kind"]).data
    second = gov.write_derived("service:pipeline", "processing", "derived.kinds", kinds,
                               inputs=["derived.keys_copy"], column_labels={"kind": ["input_events"]},
                               column_sources={"kind": ["derived.keys_copy.kind"]})
    assert "typed_text" in second.labels
    assert gov.lineage("derived.kinds") == ["derived.keys_copy", "curated.events"]


def test_dropping_a_label_is_refused_and_leaves_no_table(gov: Governance) -> None:
    data = _events_sample(gov)
    with pytest.raises(PolicyDenied, match="less than its inputs' labels"):
        gov.write_derived("service:pipeline", "processing", "derived.laundered", data, inputs=["curated.events"],
                          column_labels={"subject": ["subject_identity"], "segment_id": ["device_meta"],
                                         "seq": ["device_meta"], "kind": ["input_events"], "char": ["input_events"]},
                          column_sources={"char": ["curated.events.char"]})
    assert "derived.laundered" not in gov.tables.names()


def test_a_registered_declassifier_may_lower_labels_and_is_audited(gov: Governance) -> None:
    gov.register_declassifier("test-redactor", ["typed_text"], "replaces typed characters by their class",
                              by="dpo@example.com")
    data = _events_sample(gov).drop_columns(["char"]).append_column("char_class", pa.array(["x"] * 20))
    defn = gov.write_derived("service:pipeline", "processing", "derived.classes", data, inputs=["curated.events"],
                             column_labels={"subject": ["subject_identity"], "segment_id": ["device_meta"],
                                            "seq": ["device_meta"], "kind": ["input_events"],
                                            "char_class": ["input_events"]},
                             column_sources={"char_class": ["curated.events.char"]}, declassifier="test-redactor")
    assert "typed_text" not in defn.labels
    lowered = [r for _, r in gov.audit_records(table="derived.classes") if r.action == "declassify"]
    assert lowered and "char_class:-typed_text" in lowered[-1].detail["lowered"]


def test_an_unregistered_declassifier_does_nothing(gov: Governance) -> None:
    with pytest.raises(PolicyDenied, match="no registered declassifier"):
        gov.write_derived("service:pipeline", "processing", "derived.x", _events_sample(gov), inputs=["curated.events"],
                          column_labels={}, column_sources={}, declassifier="made-up")


def test_unlabelled_columns_cannot_be_written(gov: Governance) -> None:
    with pytest.raises(PolicyDenied, match="no label"):
        gov.write_derived("service:pipeline", "processing", "derived.unlabelled", pa.table({"x": [1]}),
                          inputs=["curated.events"], column_labels={}, column_sources={})


def test_a_principal_without_a_write_grant_cannot_derive(gov: Governance) -> None:
    with pytest.raises(PolicyDenied, match="may not derive"):
        gov.write_derived(ML, "model_training", "derived.mine", pa.table({"kind": ["a"]}), inputs=["curated.events"],
                          column_labels={"kind": ["input_events"]}, column_sources={"kind": ["curated.events.kind"]})


def test_actions_are_raw_spans_of_presses_and_releases(gov: Governance) -> None:
    spans = gov.read("service:pipeline", "processing", "curated.actions",
                     ["segment_id", "kind", "start_seq", "end_seq", "t", "t_end"]).data.to_pylist()
    presses = gov.query("service:pipeline", "processing",
                        "SELECT count(*) AS n FROM curated.events WHERE kind = 'key_press'").column("n")[0].as_py()
    releases = gov.query("service:pipeline", "processing",
                         "SELECT count(*) AS n FROM curated.events WHERE kind = 'key_release'").column("n")[0].as_py()
    keys = [s for s in spans if s["kind"] == "key"]
    assert len(keys) == presses > 0
    closed = [s for s in keys if s["end_seq"] is not None]  # the test segments also hold presses alone
    assert len(closed) == releases > 0
    assert all(s["end_seq"] > s["start_seq"] and s["t_end"] >= s["t"] for s in closed)
    columns = {c.name for c in gov.tables.definition("curated.actions").columns}
    assert not columns & {"char", "keysym", "keysym_name", "prompt_char"}  # nothing typed is copied


def test_a_table_without_labels_cannot_be_created(gov: Governance) -> None:
    from jobshadow.lake.curated import ColumnDef, TableDef

    with pytest.raises(ConfigError, match="no label"):
        gov.tables.create(TableDef("derived.bare", (ColumnDef("x", pa.int32(), ""),)))
    with pytest.raises(ConfigError, match="unknown labels"):
        gov.tables.create(TableDef("derived.bare", (ColumnDef("x", pa.int32(), "secretish"),)))
    assert "derived.bare" not in gov.tables.names()
