"""The public surface of jobshadow.sensitive: names, records, redact() and overlap settling."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

import jobshadow.sensitive as sensitive
from jobshadow.sensitive import KIND_DOCS, KINDS, Finding, redact, scan
from jobshadow.sensitive._engine import resolve
from jobshadow.sensitive._kinds import PRIORITY


def test_exports_match_all() -> None:
    assert set(sensitive.__all__) == {"KINDS", "KIND_DOCS", "DetectorFailed", "Finding", "partial", "redact", "scan"}
    for name in sensitive.__all__:
        assert hasattr(sensitive, name)


def test_every_kind_is_documented_and_ranked() -> None:
    assert tuple(KIND_DOCS) == KINDS
    assert len(set(KINDS)) == len(KINDS)
    for kind in KINDS:
        assert KIND_DOCS[kind].strip()
        assert kind in PRIORITY
        assert kind == kind.lower() and " " not in kind


def test_finding_is_frozen_and_slotted() -> None:
    f = Finding(1, 3, "email")
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.start = 2  # type: ignore[misc]
    assert not hasattr(f, "__dict__")


def test_empty_and_clean_text() -> None:
    assert scan("") == []
    assert redact("") == ("", [])
    text = "deploy finished in 3.2s, see JIRA-1234 and commit 3f2a9c1e on 2024-05-01"
    assert scan(text) == []
    assert redact(text) == (text, [])


def test_redact_replaces_each_finding_and_keeps_original_offsets() -> None:
    text = "mail bob.smith@example.com or call +44 20 7946 0958, pw: Hunter2!x"
    out, findings = redact(text)
    assert out == "mail [REDACTED:email] or call [REDACTED:phone], pw: [REDACTED:password]"
    assert [(f.kind, text[f.start : f.end]) for f in findings] == [
        ("email", "bob.smith@example.com"),
        ("phone", "+44 20 7946 0958"),
        ("password", "Hunter2!x"),
    ]
    assert findings == scan(text)


def test_findings_are_sorted_and_disjoint() -> None:
    text = "\n".join(
        [
            "AWS_ACCESS_KEY_ID=AKIAQ3EGJ7WXYZ2ABCDE",
            "token=ghp_0123456789abcdefghijABCDEFGHIJ012345",
            "alice@example.org 4111 1111 1111 1111",
            "password=S3cr3t!pw",
        ]
    )
    findings = scan(text)
    assert len(findings) == 5
    for a, b in itertools.pairwise(findings):
        assert a.end <= b.start


def test_resolve_prefers_specific_kind_then_longer_span() -> None:
    generic = Finding(10, 50, "generic_token")
    github = Finding(10, 50, "github_token")
    password = Finding(5, 60, "password")
    email = Finding(70, 90, "email")
    assert resolve([generic, github, password, email]) == [github, email]
    short = Finding(0, 5, "generic_token")
    long = Finding(0, 9, "generic_token")
    assert resolve([short, long]) == [long]
    assert resolve([Finding(3, 3, "email")]) == []


def test_block_beats_everything_inside_it() -> None:
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq\nAKIAQ3EGJ7WXYZ2ABCDE\n-----END RSA PRIVATE KEY-----"
    assert [f.kind for f in scan(f"x\n{key}\ny")] == ["private_key"]


def test_non_ascii_text_keeps_exact_offsets() -> None:
    secret = "ghp_0123456789abcdefghijABCDEFGHIJ012345"
    text = f"🙏 naïve café — İstanbul ✓ {secret} ünïcödé\xa0password:\xa0Pässw0rd!"
    findings = scan(text)
    assert [(f.kind, text[f.start : f.end]) for f in findings] == [
        ("github_token", secret),
        ("password", "Pässw0rd!"),
    ]


def test_a_failing_detector_costs_only_its_own_findings(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from jobshadow.sensitive import _engine

    def broken(st: object) -> list[Finding]:
        raise RuntimeError("bug")

    monkeypatch.setattr(_engine, "DETECTORS", (broken, *_engine.DETECTORS))
    text = "secret mail bob@example.com"
    with caplog.at_level("ERROR", logger="jobshadow.sensitive._engine"):
        assert scan(text) == [Finding(12, 27, "email")]
    assert "broken" in caplog.text and "RuntimeError" in caplog.text
    assert "bob@example.com" not in caplog.text  # never the text itself
