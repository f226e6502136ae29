"""Audit records, signed tree heads, signing keys and portable proofs."""

from __future__ import annotations

import base64
import inspect
import json
import os
import stat
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from jobshadow.errors import JobshadowError
from jobshadow.govern import audit
from jobshadow.govern.audit import (
    AuditHeadError,
    AuditKeyError,
    AuditProofError,
    AuditRecord,
    AuditRecordError,
    ConsistencyProof,
    InclusionProof,
    SignedTreeHead,
    format_time,
    key_id,
    load_or_create_signing_key,
    load_public_key,
    load_signing_key,
    parse_time,
    public_key_pem,
    sign_head,
)
from jobshadow.govern.audit.merkle import EMPTY_ROOT, leaf_hash

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


def rec(**over: Any) -> AuditRecord:
    fields: dict[str, Any] = {
        "principal": "alice@example.org",
        "action": "read",
        "resource": "lake.sessions",
        "purpose": "training",
        "decision": "allow",
        "policy_ids": ("p-1", "p-2"),
        "reason": "",
        "subject": "subj-42",
        "detail": {"rows": 12, "table": "sessions"},
        "time": T0,
    }
    fields.update(over)
    return AuditRecord.create(**fields)


# -- records -------------------------------------------------------------------------------------
def test_canonical_bytes_are_exact() -> None:
    r = rec(resource="lake.é", detail={"b": 1, "a": "x"})
    assert (
        r.canonical()
        == (
            '{"action":"read","decision":"allow","detail":{"a":"x","b":1},"policy_ids":["p-1","p-2"],'
            '"principal":"alice@example.org","purpose":"training","reason":"","resource":"lake.é",'
            '"subject":"subj-42","time":"2024-05-01T12:00:00.123456Z","v":1}'
        ).encode()
    )
    assert AuditRecord.from_canonical(r.canonical()) == r
    assert hash(AuditRecord.from_canonical(r.canonical())) == hash(r)


def test_record_is_frozen_and_detaches_inputs() -> None:
    detail: dict[str, str | int] = {"rows": 1}
    ids = ["p"]
    r = AuditRecord(
        time=format_time(T0),
        principal="a",
        action="read",
        resource="t",
        purpose="x",
        decision="deny",
        policy_ids=ids,  # type: ignore[arg-type]
        detail=detail,
    )
    detail["rows"] = 2
    ids.append("q")
    assert r.detail == {"rows": 1} and r.policy_ids == ("p",)
    with pytest.raises(AttributeError):
        r.principal = "mallory"  # type: ignore[misc]
    with pytest.raises(TypeError):
        detail_view: Any = r.detail
        detail_view["rows"] = 3


def test_time_format() -> None:
    assert format_time(T0) == "2024-05-01T12:00:00.123456Z"
    plus2 = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert format_time(plus2) == "2024-05-01T12:00:00.000000Z"
    assert parse_time("2024-05-01T12:00:00.123456Z") == T0
    assert rec().when == T0
    with pytest.raises(AuditRecordError):
        format_time(datetime(2024, 5, 1))  # naive
    for bad in ["2024-05-01T12:00:00Z", "2024-05-01T12:00:00.1234Z", "2024-05-01 12:00:00.000000Z",
                "2024-02-30T12:00:00.000000Z", "2024-05-01T12:00:00.000000+00:00"]:  # fmt: skip
        with pytest.raises(AuditRecordError):
            parse_time(bad)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("principal", "", "must not be empty"),
        ("principal", 7, "must be a string"),
        ("principal", "x" * 257, "limit is 256"),
        ("resource", "r" * 1025, "limit is 1024"),
        ("action", "re\nad", "control character"),
        ("purpose", "\x1b[2J", "control character"),
        ("reason", "x" * 2049, "limit is 2048"),
        ("subject", "\ud800", "surrogate"),
        ("subject", "", "must not be empty"),
        ("decision", "maybe", "'allow' or 'deny'"),
        ("policy_ids", "p-1", "sequence of strings"),
        ("policy_ids", [1], "must be a string"),
        ("policy_ids", ["p"] * 65, "limit is 64"),
        ("detail", {"ok": True}, "string or an integer"),
        ("detail", {"ok": 1.5}, "string or an integer"),
        ("detail", {"n": 2**60}, "outside"),
        ("detail", {"k": "v" * 257}, "limit is 256"),
        ("detail", {f"k{i}": i for i in range(33)}, "limit is 32"),
        ("detail", {"": 1}, "must not be empty"),
        ("detail", [("a", 1)], "must be a mapping"),
    ],
)
def test_record_validation(field: str, value: object, match: str) -> None:
    with pytest.raises(AuditRecordError, match=match) as info:
        rec(**{field: value})
    assert isinstance(info.value, JobshadowError)


def test_from_canonical_is_strict() -> None:
    good = json.loads(rec().canonical())
    spaced = json.dumps(good, sort_keys=True).encode()
    with pytest.raises(AuditRecordError, match="canonical"):
        AuditRecord.from_canonical(spaced)
    mutations: list[Callable[[dict[str, Any]], object]] = [
        lambda o: o.update(extra=1),
        lambda o: o.pop("reason"),
        lambda o: o.update(v=2),
        lambda o: o.update(v=True),
        lambda o: o.update(decision="perhaps"),
        lambda o: o.update(detail=[]),
    ]
    for mutate in mutations:
        obj = dict(good)
        mutate(obj)
        with pytest.raises(AuditRecordError):
            AuditRecord.from_canonical(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode())
    with pytest.raises(AuditRecordError):
        AuditRecord.from_canonical(b"\xff\xfe")
    with pytest.raises(AuditRecordError):
        AuditRecord.from_canonical(b"[]")


# -- keys ----------------------------------------------------------------------------------------
def test_signing_key_file(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "audit.pem"
    key = load_or_create_signing_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    again = load_or_create_signing_key(path)
    assert key_id(again) == key_id(key) == key_id(key.public_key())
    assert [p.name for p in path.parent.iterdir()] == ["audit.pem"]  # no temporary left behind
    pub = load_public_key(public_key_pem(key))
    assert key_id(pub) == key_id(key)

    path.chmod(0o644)
    with pytest.raises(AuditKeyError, match="chmod 600"):
        load_signing_key(path)
    bad = tmp_path / "bad.pem"
    bad.write_bytes(b"not a key")
    bad.chmod(0o600)
    with pytest.raises(AuditKeyError, match="PKCS#8"):
        load_signing_key(bad)
    with pytest.raises(AuditKeyError):
        load_signing_key(tmp_path / "missing.pem")
    with pytest.raises(AuditKeyError):
        load_public_key(b"garbage")
    with pytest.raises(AuditKeyError):
        audit.read_public_key(tmp_path / "missing.pub")


def test_concurrent_key_creation_yields_one_key(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    ids: list[str] = []
    lock = threading.Lock()

    def create() -> None:
        k = load_or_create_signing_key(path)
        with lock:
            ids.append(key_id(k))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 8 and len(set(ids)) == 1
    assert sorted(os.listdir(tmp_path)) == ["k.pem"]


# -- heads ---------------------------------------------------------------------------------------
def test_head_sign_verify_and_json() -> None:
    key = Ed25519PrivateKey.generate()
    root = leaf_hash(b"x")
    head = sign_head(key, 5, root, T0)
    head.verify(key.public_key())
    assert head.timestamp == "2024-05-01T12:00:00.123456Z"
    # A C2SP checkpoint: origin (the log's key id), size, base64 root, and the time as an extension.
    assert head.message().decode().splitlines() == [
        f"jobshadow/audit/{key_id(key)}",
        "5",
        base64.b64encode(root).decode(),
        "time 2024-05-01T12:00:00.123456Z",
    ]
    text = head.to_json()
    assert SignedTreeHead.from_json(text) == head
    SignedTreeHead.from_json(text.encode()).verify(key.public_key())

    other = Ed25519PrivateKey.generate()
    with pytest.raises(AuditHeadError, match="names key"):
        head.verify(other.public_key())
    obj = json.loads(text)
    changes = [
        ("tree_size", 6),
        ("root_hash", EMPTY_ROOT.hex()),
        ("timestamp", format_time(T0 + timedelta(1))),
    ]
    for field, value in changes:
        forged = SignedTreeHead.from_json(json.dumps({**obj, field: value}))
        with pytest.raises(AuditHeadError, match="invalid signature"):
            forged.verify(key.public_key())
    # A head forged with another key but claiming ours fails the signature check.
    fake = sign_head(other, 5, root, T0)
    claimed = SignedTreeHead(fake.tree_size, fake.root_hash, fake.timestamp, fake.signature, head.key_id)
    with pytest.raises(AuditHeadError, match="invalid signature"):
        claimed.verify(key.public_key())


@pytest.mark.parametrize(
    "change",
    [
        {"format": "other"},
        {"tree_size": -1},
        {"tree_size": True},
        {"tree_size": "5"},
        {"root_hash": "zz"},
        {"root_hash": "AB" * 32},
        {"root_hash": "ab" * 31},
        {"signature": "!!"},
        {"signature": "AAAA"},
        {"key_id": "XYZ"},
        {"timestamp": "yesterday"},
        {"extra": 1},
    ],
)
def test_head_from_json_is_strict(change: dict[str, object]) -> None:
    obj = json.loads(sign_head(Ed25519PrivateKey.generate(), 5, EMPTY_ROOT, T0).to_json())
    obj.update(change)
    with pytest.raises(AuditHeadError):
        SignedTreeHead.from_json(json.dumps(obj))
    with pytest.raises(AuditHeadError):
        SignedTreeHead.from_json("not json")


# -- proof JSON ----------------------------------------------------------------------------------
def test_proof_json_round_trip_and_strictness() -> None:
    inc = InclusionProof(3, 8, rec().canonical(), (EMPTY_ROOT, leaf_hash(b"a")))
    assert InclusionProof.from_json(inc.to_json()) == inc
    assert inc.record() == rec()
    con = ConsistencyProof(3, 8, (EMPTY_ROOT,))
    assert ConsistencyProof.from_json(con.to_json()) == con
    obj: dict[str, Any] = json.loads(inc.to_json())
    changes: list[dict[str, Any]] = [
        {"path": ["AB" * 32]},
        {"path": ["ab"]},
        {"index": -1},
        {"leaf": "***"},
        {"format": "x"},
    ]
    for change in changes:
        with pytest.raises(AuditProofError):
            InclusionProof.from_json(json.dumps({**obj, **change}))
    with pytest.raises(AuditProofError):
        ConsistencyProof.from_json(json.dumps({**json.loads(con.to_json()), "path": [EMPTY_ROOT.hex()] * 65}))
    with pytest.raises(AuditProofError):
        ConsistencyProof.from_json(b"\xff")


def test_public_surface_matches_all() -> None:
    public = {name for name in dir(audit) if not name.startswith("_") and name != "annotations"}
    exported = {name for name in public if not inspect.ismodule(getattr(audit, name))}
    assert exported == set(audit.__all__)
