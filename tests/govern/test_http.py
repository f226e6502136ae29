"""The governed query API over real HTTP: signed principals, the door's decisions, hostile input."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from jobshadow.govern.door import Governance
from jobshadow.protocol import sign_principal_request
from jobshadow.testing.door import LiveDoor
from jobshadow.testing.lake import BuiltLake

from .conftest import TYPED_CANARY

ADMIN = "admin@example.com"
ANALYST = "person:analyst@example.com"
STRANGER = "person:stranger@example.com"
SQL = "SELECT kind, count(*) AS n FROM curated.events GROUP BY kind ORDER BY kind"


def raw_public(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


@pytest.fixture(scope="module")
def keys(built: BuiltLake) -> dict[str, Ed25519PrivateKey]:
    out = {ANALYST: Ed25519PrivateKey.generate(), STRANGER: Ed25519PrivateKey.generate()}
    gov = Governance(built.settings)
    try:
        for pid, key in out.items():
            gov.add_principal(pid, by=ADMIN, public_key=raw_public(key))
        gov.duties.set_roles(ANALYST, ["researcher"], by=ADMIN)  # the stranger has no role at all
        gov.grant(ANALYST, "read", "curated.events", "model_training", 3600, by=ADMIN)
        gov.grant(ANALYST, "read", "curated.windows", "model_training", 3600, by=ADMIN)
    finally:
        gov.close()
    return out


@pytest.fixture(scope="module")
def server(built: BuiltLake, keys: dict[str, Ed25519PrivateKey]) -> Iterator[LiveDoor]:
    live = LiveDoor(built.settings)  # the governance door, where the query API is served
    try:
        yield live
    finally:
        live.stop()


@dataclass
class Reply:
    status_code: int
    headers: dict[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


def post(server: LiveDoor, body: bytes, headers: dict[str, str] | None = None) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.request("POST", "/v1/query", body=body, headers={"content-type": "application/json", **(headers or {})})
        r = conn.getresponse()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


def signed(server: LiveDoor, key: Ed25519PrivateKey, principal: str, payload: dict[str, object]) -> Reply:
    body = json.dumps(payload).encode()
    return post(server, body, sign_principal_request(key, principal, "POST", "/v1/query", body))


def test_a_granted_principal_gets_rows_as_json_and_as_arrow(server: LiveDoor,
                                                            keys: dict[str, Ed25519PrivateKey]) -> None:
    r = signed(server, keys[ANALYST], ANALYST, {"purpose": "model_training", "sql": SQL})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["columns"] == ["kind", "n"]
    counts = dict(map(tuple, out["rows"]))
    assert counts["key_press"] > 0 and counts["key_release"] > 0
    r = signed(server, keys[ANALYST], ANALYST, {"purpose": "model_training", "sql": SQL, "format": "arrow"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.apache.arrow.stream"
    table = pa.ipc.open_stream(r.content).read_all()
    assert dict(zip(table.column("kind").to_pylist(), table.column("n").to_pylist(), strict=True)) == counts


def test_refusals_come_from_the_same_door(server: LiveDoor, keys: dict[str, Ed25519PrivateKey],
                                         built: BuiltLake) -> None:
    # No grant at all; a purpose the analyst holds no grant for; a purpose nobody may use.
    for key, pid, purpose in ((keys[STRANGER], STRANGER, "model_training"),
                              (keys[ANALYST], ANALYST, "privacy_audit"),
                              (keys[ANALYST], ANALYST, "performance_evaluation")):
        r = signed(server, key, pid, {"purpose": purpose, "sql": SQL})
        assert r.status_code == 403, (pid, purpose, r.text)
        assert r.json()["error"]["code"] == "policy_denied"
        assert TYPED_CANARY not in r.text
    gov = Governance(built.settings)
    try:
        denied = gov.audit_records(principal=STRANGER, decision="deny")
    finally:
        gov.close()
    assert denied, "a refused query is audited"


def test_unsigned_forged_and_replayed_requests_are_not_authenticated(server: LiveDoor,
                                                                    keys: dict[str, Ed25519PrivateKey]) -> None:
    body = json.dumps({"purpose": "model_training", "sql": SQL}).encode()
    assert post(server, body).status_code == 401
    # The stranger's key claiming to be the analyst.
    forged = sign_principal_request(keys[STRANGER], ANALYST, "POST", "/v1/query", body)
    r = post(server, body, forged)
    assert r.status_code == 401 and r.json()["error"]["code"] == "not_authenticated"
    # A signed body swapped for another.
    good = sign_principal_request(keys[ANALYST], ANALYST, "POST", "/v1/query", body)
    other = json.dumps({"purpose": "model_training", "sql": "SELECT title FROM curated.windows"}).encode()
    assert post(server, other, good).status_code == 401
    # The same signed request twice: the second is a replay.
    fresh = sign_principal_request(keys[ANALYST], ANALYST, "POST", "/v1/query", body)
    assert post(server, body, fresh).status_code == 200
    assert post(server, body, fresh).status_code == 401


@pytest.mark.parametrize(("payload", "status", "code"), [
    (b"{not json", 400, "bad_query"),
    (json.dumps({"purpose": "model_training"}).encode(), 400, "bad_query"),
    (json.dumps({"purpose": "model_training", "sql": SQL, "extra": 1}).encode(), 400, "bad_query"),
    (json.dumps({"purpose": "model_training", "sql": SQL, "format": "csv"}).encode(), 400, "bad_query"),
    (json.dumps({"purpose": "model_training", "sql": "DROP TABLE curated.events"}).encode(), 400, "bad_query"),
    (json.dumps({"purpose": "model_training",
                 "sql": "SELECT * FROM read_parquet('/etc/passwd')"}).encode(), 400, "bad_query"),
    (json.dumps({"purpose": "model_training", "sql": "SELECT 1; SELECT 2"}).encode(), 400, "bad_query"),
    (json.dumps({"purpose": "model_training", "sql": "SELECT * FROM curated.nope"}).encode(), 400, "bad_query"),
])
def test_malformed_or_hostile_queries_get_a_clear_error(server: LiveDoor, keys: dict[str, Ed25519PrivateKey],
                                                        payload: bytes, status: int, code: str) -> None:
    r = post(server, payload, sign_principal_request(keys[ANALYST], ANALYST, "POST", "/v1/query", payload))
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code and r.json()["error"]["message"]


def test_an_oversized_body_is_refused_before_it_is_read(server: LiveDoor) -> None:
    r = post(server, b"x" * (256 * 1024))
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"


def test_masked_columns_never_cross_the_wire(server: LiveDoor, keys: dict[str, Ed25519PrivateKey],
                                            built: BuiltLake) -> None:
    # subject_identity does not serve model_training: the column comes back null, not pseudonyms.
    r = signed(server, keys[ANALYST], ANALYST, {"purpose": "model_training",
                                                "sql": "SELECT DISTINCT kind, subject FROM curated.events"})
    assert r.status_code == 200, r.text
    assert r.json()["rows"] and {row[1] for row in r.json()["rows"]} == {None}
    gov = Governance(built.settings)
    try:
        pseudonyms = [gov.keys.pseudonym(p) for p in built.people.values()]
    finally:
        gov.close()
    assert not any(p in r.text for p in pseudonyms)
    # A table the analyst holds no grant on is refused, whichever query names it.
    r = signed(server, keys[ANALYST], ANALYST, {"purpose": "model_training",
                                                "sql": "SELECT count(*) FROM curated.frames"})
    assert r.status_code == 403
