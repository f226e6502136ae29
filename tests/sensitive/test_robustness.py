"""scan() never raises, returns well-formed findings, and stays linear on adversarial input."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobshadow.sensitive import KINDS, redact, scan

# Fragments that steer generated text into every detector's code paths.
_FRAGMENTS = [
    "password", "password: ", "passwd", "--password ", "-p", "pwd=", "token=", "api_key: ", "secret", "Bearer ",
    "Authorization: Basic ", "sudo ls\n", "su -\n", "ssh host\n", "passwd\n", "gpg -c f\n", "mysql -p\n", "\n", "\r\n",
    "\r", " ", "\t", "@", "://", "user:pw@", "AKIA", "ASIA", "AIza", "ghp_", "github_pat_", "glpat-", "xoxb-", "sk-",
    "sk-ant-", "sk_live_", "eyJ", ".", "-----BEGIN PRIVATE KEY-----\n", "-----END PRIVATE KEY-----",
    '"private_key": "', '"private_key_id": "', "AccountKey=", ";", "Q~", "+44 ", "(415) ", "555-2671", "4111 1111 ",
    "1111 1111", "DE89 3704 ", "0044 0532 0130 00", "SSN ", "536-90-4399", "0", "9", "12", "-", "(", ")", "'", '"',
    "\xa0", "İ", "🙏", "ñ", "ß", "\x00", "\u202e", "\ud800", "Ab3dEf9hIjKl", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
]  # fmt: skip

_mixed = st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=12)), max_size=40).map("".join)


def _check(text: str) -> None:
    findings = scan(text)
    previous_end = 0
    for f in findings:
        assert f.kind in KINDS
        assert 0 <= previous_end <= f.start < f.end <= len(text)
        previous_end = f.end
    out, again = redact(text)
    assert again == findings
    assert isinstance(out, str)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_never_raises_on_any_text(text: str) -> None:
    _check(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mixed)
def test_never_raises_on_detector_shaped_text(text: str) -> None:
    _check(text)


# Inputs that would take quadratic or exponential time with a careless pattern; 200k chars.
_N = 200_000
_ADVERSARIAL = {
    "letters": "a" * _N,
    "digit runs": "1 " * (_N // 2),
    "dashed digits": "1-" * (_N // 2),
    "hyphens": "-" * _N,
    "at signs": "a@b." * (_N // 4),
    "jwt prefix": "eyJ" * (_N // 3),
    "lone lines": "x\n" * (_N // 2),
    "sudo lines": "sudo ls\nhunter2\n" * (_N // 16),
    "keys": "password=" * (_N // 9),
    "flags": "--password " * (_N // 11),
    "iban heads": "DE89 " * (_N // 5),
    "pem begins": "-----BEGIN PRIVATE KEY-----" * (_N // 27),
    "azure anchors": "AccountKey=" * (_N // 11),
    "one long line of keys": ("x " * 30 + "password: ") * (_N // 70),
    "emoji": "🙏" * _N,
    "url userinfo": "https://a:b@" * (_N // 12),
}


@pytest.mark.parametrize("name", list(_ADVERSARIAL))
def test_adversarial_input_is_linear(name: str) -> None:
    text = _ADVERSARIAL[name]
    start = time.perf_counter()
    scan(text)
    # ~0.2 s on the development machine; the bound only catches super-linear blow-ups.
    assert time.perf_counter() - start < 3.0, name
