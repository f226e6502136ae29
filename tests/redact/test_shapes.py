"""Shape rules and OCR-confusion rewrites (no OCR)."""

from __future__ import annotations

import pytest

from jobshadow.redact import confusions, shapes


@pytest.mark.parametrize("token", ["AKIAZ4OXW7PLM3NRT2VB", "ghp_16C?e42F292c6912E7710c838347Ae178B4a",
                                   "xoxb-123456789012-1234567890123-abcDEF8ghiJKL", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIi",
                                   "sk_live_51HxyzABCdef123GHIjkl456", "k3J9x0QmZ7vB2nW8pL5sR1tY"])
def test_key_shaped_tokens(token: str) -> None:
    assert shapes.key_shaped(token) is not None


@pytest.mark.parametrize("token", ["getUserAuthenticationTokenFromRequestHeaders", "AWS_SECRET_ACCESS_KEY",
                                   "0bf34a870d94595fa9e24243e760b3e4494957ee", "eu-west-1.compute.internal",
                                   "https://github.com/acme/api/pull/1234", "550e8400-e29b-41d4-a716-446655440000",
                                   "/usr/lib/x86_64-linux-gnu/libssl.so.3", "internationalization"])
def test_identifiers_hashes_and_paths_are_not_keys(token: str) -> None:
    assert shapes.key_shaped(token) is None


def test_confusions_keep_offsets_and_fix_classes() -> None:
    line = "card 4111 l1I1 1111 1lll mail jane,doe@example,com passw0rd: x"
    for v in confusions.text_variants(line):
        assert len(v) == len(line)
    rewritten = confusions.text_variants(line)[-1]
    assert "4111 1111 1111 1111" in rewritten
    assert "jane.doe@example.com" in rewritten
    assert "password:" in rewritten


def test_digit_runs_mask_numbers_but_not_dates_or_ips() -> None:
    assert shapes.digit_runs(["card", "4111", "1111", "1111", "1111"]) == [(1, 4, "credit_card")]
    assert shapes.digit_runs(["call", "+44", "20", "7946", "0958"]) == [(1, 4, "phone")]
    assert shapes.digit_runs(["ssn", "123-45-6789"]) == [(1, 1, "us_ssn")]
    assert shapes.digit_runs(["on", "2024-01-02", "2024-02-03", "from", "10.0.12.254"]) == []


def test_emails_ibans_keywords() -> None:
    assert shapes.emails("mail jane,doe@exarnple,com ok") == [(5, 26)]
    assert shapes.ibans(["IBAN:", "GB82", "WEST", "1234", "5698", "7654", "32"]) == [(1, 6, "iban")]
    assert shapes.keyword_values(["Passw0rd:", "hunter2"]) == [(1, 1, "password")]
    assert shapes.keyword_values(["password", "reset", "link"]) == []


def test_unsure_long_random_tokens() -> None:
    assert shapes.unsure("SmU9Q°*e6NihxNmKNYN1BHO-eaZB23", 0.0)
    assert not shapes.unsure("stephensdana@build-02:~/environment$", 30.0)
    assert not shapes.unsure("AKIAZ4OXW7PLM3NRT2VB", 90.0)


def test_split_and_wrapped_addresses() -> None:
    assert shapes.emails("10 rupert .perez@stark-industries.de") == [(3, 36)]
    assert shapes.emails("Le Year peggy+worker@stark-") == [(8, 27)]
