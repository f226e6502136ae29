"""People at the door: logins, roles for every operation, signatures, four eyes (issue 12).

A fresh server home with the real door on loopback; each person logs in under a home of their
own. Every refusal must also be in the audit log, naming who tried (or ``unauthenticated``).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from jobshadow.api.client import DoorClient, login
from jobshadow.api.ops import ANYONE, load_all
from jobshadow.cli.main import cli
from jobshadow.config import Settings, load_settings
from jobshadow.errors import RequestRejected
from jobshadow.govern import ROLES, init_admin
from jobshadow.home import Home
from jobshadow.protocol import sign_principal_request
from jobshadow.testing.door import LiveDoor


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(environ={"JOBSHADOW_HOME": str(tmp_path_factory.mktemp("server"))})


@pytest.fixture(scope="module")
def door(settings: Settings) -> Iterator[LiveDoor]:
    live = LiveDoor(settings)
    try:
        yield live
    finally:
        live.stop()


def records(door: LiveDoor, principal: str) -> list[tuple[str, str, str]]:
    return [(r.action, r.decision, r.reason) for _, r in door.gov.audit_records(principal=principal)]


def test_the_first_administrator_comes_from_the_host_once(door: LiveDoor, settings: Settings, tmp_path: Path) -> None:
    code, _ = init_admin(settings, "root@example.com")
    with pytest.raises(RequestRejected, match="already"):
        init_admin(settings, "second@example.com")
    who = login(Home(tmp_path / "root"), door.url, code)
    assert who.principal == "person:root@example.com" and who.roles == ("admin",)
    with pytest.raises(RequestRejected) as exc:  # a code is used once
        login(Home(tmp_path / "again"), door.url, code)
    assert exc.value.code == "code_used"
    assert (tmp_path / "root" / "keys" / "person.pem").stat().st_mode & 0o077 == 0
    # The administrator invites the others; a login answers who the door takes you for.
    admin = DoorClient(who)
    invite = admin.call("admin.invite", email="Rev@Example.com", roles=["reviewer"])
    rev = login(Home(tmp_path / "rev"), door.url, invite["code"])
    assert DoorClient(rev).call("whoami") == {"principal": "person:rev@example.com", "roles": ["reviewer"]}
    assert ("administer", "allow", "person.login") in records(door, rev.principal)
    with pytest.raises(RequestRejected) as exc:
        login(Home(tmp_path / "guess"), door.url, "AAAA-BBBB-CCCC-DDDD")
    assert exc.value.code == "invalid_code"
    assert any(a == "login" and d == "deny" for a, d, _ in records(door, "unauthenticated"))


# One logged-in person per set of roles, made on first use.
_people: dict[frozenset[str], DoorClient] = {}


def person_with(door: LiveDoor, roles: frozenset[str], root: Path) -> DoorClient:
    if roles not in _people:
        email = "-".join(sorted(roles)) + f"-{len(_people)}@example.com"
        home = Home(root / email).ensure()
        _people[roles] = DoorClient(login(home, door.url, door.invite(email, sorted(roles))))
    return _people[roles]


@pytest.mark.parametrize("name", sorted(load_all()))
def test_every_operation_is_refused_to_roles_without_the_permission(door: LiveDoor, name: str,
                                                                   tmp_path_factory: pytest.TempPathFactory) -> None:
    op = load_all()[name]
    if ANYONE in op.roles:
        pytest.skip("open to every logged-in person")
    others = frozenset(ROLES) - op.roles
    client = person_with(door, others, tmp_path_factory.mktemp("people"))
    with pytest.raises(RequestRejected) as exc:
        client.call(name)  # no arguments needed: the role is checked first
    assert (exc.value.status, exc.value.code) == (403, "role_required")
    last = door.gov.audit_records(principal=client.who.principal)[-1][1]
    assert (last.action, last.decision) == (name, "deny") and "role required" in last.reason


CLI_COMMANDS = [
    ["whoami"], ["query", "--purpose", "model_training", "SELECT 1"], ["curate", "run"],
    ["dataset", "build", "--format", "hf", "--out", "x"], ["dataset", "list"],
    ["admin", "invite", "a@example.com", "--roles", "admin"], ["admin", "people"], ["admin", "status"],
    ["admin", "enroll-code", "--person", "a@example.com"], ["admin", "device", "list"],
    ["admin", "device", "revoke", "0" * 16], ["admin", "scope", "create", "s", "--apps", "xterm"],
    ["admin", "scope", "list"], ["admin", "scope", "activate", "s"], ["admin", "review", "submit", "s"],
    ["admin", "review", "list"], ["admin", "review", "show", "r"], ["admin", "review", "approve", "r"],
    ["admin", "pause-programme", "--reason", "x"], ["admin", "resume-programme"], ["admin", "landed"],
    ["admin", "consent", "withdrawn", "--person", "a@example.com"],
    ["govern", "grant", "group:g", "read", "curated.events", "--purpose", "model_training", "--for", "1h"],
    ["govern", "grants"], ["govern", "revoke", "g"], ["govern", "scan"], ["govern", "tables"],
    ["govern", "retention"], ["govern", "request", "list"], ["govern", "member", "add", "person:a@b.c", "group:g"],
    ["audit", "verify"], ["audit", "who"], ["audit", "key"],
    ["subject", "export", "a@example.com", "--out", "x"], ["subject", "erase", "a@example.com", "--yes"],
]


@pytest.mark.parametrize("args", CLI_COMMANDS, ids=lambda a: " ".join(a[:3]))
def test_every_command_is_refused_without_a_login(args: list[str], tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, args, env={"JOBSHADOW_HOME": str(tmp_path / "nobody")})
    assert r.exit_code == 1, r.output
    assert r.stderr.count("\n") == 1 and "not logged in" in r.stderr


def _post(door: LiveDoor, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", door.port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers={"content-type": "application/json", **headers})
        r = conn.getresponse()
        return r.status, json.loads(r.read())["error"] if r.status >= 400 else {}
    finally:
        conn.close()


def test_unsigned_forged_stale_and_replayed_requests_are_refused_and_audited(door: LiveDoor, tmp_path: Path) -> None:
    home = Home(tmp_path / "who").ensure()
    who = login(home, door.url, door.invite("who@example.com", ["auditor"]))
    path, body = "/v1/door/whoami", b"{}"
    assert _post(door, path, body, {})[1]["code"] == "unsigned"
    good = sign_principal_request(who.key, who.principal, "POST", path, body)
    assert _post(door, path, body, good)[0] == 200
    status, err = _post(door, path, body, good)  # the same signed request again
    assert (status, err["code"]) == (401, "replayed_request")
    forged = sign_principal_request(Ed25519PrivateKey.generate(), who.principal, "POST", path, body)
    assert _post(door, path, body, forged)[1]["code"] == "bad_signature"
    other_path = sign_principal_request(who.key, who.principal, "POST", "/v1/door/admin.people", body)
    assert _post(door, path, body, other_path)[1]["code"] == "bad_signature"  # signed for another operation
    swapped = sign_principal_request(who.key, who.principal, "POST", path, body)
    assert _post(door, path, b'{"x": 1}', swapped)[1]["code"] == "bad_signature"  # the body was swapped
    stale = sign_principal_request(who.key, who.principal, "POST", path, body, now=time.time() - 3600)
    assert _post(door, path, body, stale)[1]["code"] == "stale_request"
    nobody = sign_principal_request(who.key, "person:nobody@example.com", "POST", path, body)
    assert _post(door, path, body, nobody)[1]["code"] == "unknown_principal"
    reasons = [reason.split(":")[0] for action, decision, reason in records(door, "unauthenticated")
               if action == "whoami" and decision == "deny"]
    assert {"unsigned", "replayed_request", "bad_signature", "stale_request", "unknown_principal"} <= set(reasons)
    assert hashlib.sha256(body).hexdigest()  # (the signature covers the body's hash)


def test_no_one_reviews_or_activates_around_the_rules(door: LiveDoor, tmp_path: Path) -> None:
    """An administrator who is also a reviewer still cannot approve the scope they wrote."""
    both = DoorClient(login(Home(tmp_path / "both").ensure(), door.url,
                            door.invite("both@example.com", ["admin", "reviewer"])))
    other = DoorClient(login(Home(tmp_path / "other").ensure(), door.url,
                             door.invite("other@example.com", ["reviewer"])))
    both.call("admin.scope.create", name="office", definition={"apps": ["xterm"], "purposes": ["model_training"]})
    review = both.call("admin.review.submit", scope="office")["review"]
    with pytest.raises(RequestRejected) as exc:
        both.call("admin.review.decide", review=review, approve=True)
    assert exc.value.code == "self_review"
    with pytest.raises(RequestRejected) as exc:
        both.call("admin.scope.activate", name="office")
    assert exc.value.code == "review_required"
    shown = other.call("admin.review.show", review=review)
    assert shown["definition"]["apps"] == ["xterm"] and shown["author"] == "person:both@example.com"
    assert other.call("admin.review.decide", review=review, approve=True)["state"] == "approved"
    both.call("admin.scope.activate", name="office")
    with pytest.raises(RequestRejected) as exc:  # checked where it is defined
        both.call("admin.scope.create", name="hr", definition={"apps": ["*"], "purposes": ["model_training"]})
    assert exc.value.code == "invalid_scope"
    with pytest.raises(RequestRejected) as exc:
        both.call("admin.scope.create", name="hr", definition={"apps": ["xterm"],
                                                              "purposes": ["performance_evaluation"]})
    assert exc.value.code == "invalid_scope"
    denied = [(a, d) for a, d, _ in records(door, "person:both@example.com") if d == "deny"]
    assert ("review.approve", "deny") in denied and ("scope.activate", "deny") in denied
    assert ("scope.define", "deny") in denied


def test_after_an_exposure_finding_only_a_reviewer_resumes(door: LiveDoor, tmp_path: Path) -> None:
    admin = DoorClient(login(Home(tmp_path / "a").ensure(), door.url, door.invite("a2@example.com", ["admin"])))
    reviewer = DoorClient(login(Home(tmp_path / "r").ensure(), door.url, door.invite("r2@example.com", ["reviewer"])))
    door.gov.programme.pause_programme("exposure scan: 1 finding(s) (key_file)", by="service:exposure-scan",
                                       cause="exposure")
    try:
        with pytest.raises(RequestRejected) as exc:
            admin.call("admin.programme.resume")
        assert exc.value.code == "reviewer_required"
        assert admin.call("admin.status")["programme"]["state"] == "paused"
    finally:
        assert reviewer.call("admin.programme.resume")["state"] == "running"
    admin.call("admin.programme.pause", reason="drill")
    assert admin.call("admin.programme.resume")["state"] == "running"  # a manual pause: the admin's to end
