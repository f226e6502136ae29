"""partial(): could the unfinished token at the end of a text be the start of a secret or PII?"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pytest

from jobshadow.sensitive import Finding, partial


def withheld(text: str) -> tuple[str, str] | None:
    f = partial(text)
    if f is None:
        return None
    assert f.end == len(text)  # always the trailing span
    return text[f.start : f.end], f.kind


@pytest.mark.parametrize(
    ("text", "span", "kind"),
    [
        # vendor prefixes, and distinctive prefixes of them
        ("export AWS_ACCESS_KEY_ID=AKIAZ4QXW7", "AKIAZ4QXW7", "aws_access_key"),
        ("my key AKI", "AKI", "aws_access_key"),
        ("token ghp_abc", "ghp_abc", "github_token"),
        ("OPENAI_API_KEY=sk-", "sk-", "openai_api_key"),
        ("Bearer eyJhbG", "eyJhbG", "jwt"),
        ("xoxb-1234", "xoxb-1234", "slack_token"),
        # digit groups in progress
        ("card 4111 1111", "4111 1111", "credit_card"),
        ("pay with 41111111111", "41111111111", "phone"),
        ("call me at +1 (415) 55", "+1 (415) 55", "phone"),
        ("ring (415) 555-01", "(415) 555-01", "phone"),
        ("IBAN DE89 3704", "DE89 3704", "iban"),
        ("SSN 078-05-11", "078-05-11", "us_ssn"),
        # e-mail addresses in progress
        ("write to jane.doe@exa", "jane.doe@exa", "email"),
        ("email: jane.doe", "jane.doe", "email"),
        ("\x1fjane.doe", "jane.doe", "email"),
        # a value whose key, prompt or form field is typed already
        ("password: h", "h", "password"),
        ("pw for prod = Tr0u", "Tr0u", "password"),
        ("export DB_PASSWORD=hu", "hu", "password"),
        ("mysql --password Sec", "Sec", "password"),
        ("my PIN is 48", "48", "password"),
        ("login admin / Tr", "Tr", "password"),
        ('curl -H "Authorization: Bearer ab', "ab", "generic_token"),
        ("sudo apt update\nhun", "hun", "password"),
        ("docker login ghcr.io\nalice\nhun", "hun", "password"),
        ("alice@example.com\tTr0u", "Tr0u", "password"),
        ("\x1falice\x1fhun", "hun", "password"),
        ("\u2588\u2588\u2588\u2588\u2588\tTr0u", "Tr0u", "password"),
        # a high-entropy fragment
        ("use hG7kL2pQ9xZ3w", "hG7kL2pQ9xZ3w", "generic_token"),
    ],
)
def test_the_start_of_a_secret_is_withheld(text: str, span: str, kind: str) -> None:
    assert withheld(text) == (span, kind)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello ",
        "hello",
        "the quick brown",
        "see you in 2024",
        "version 1.2",
        "ping 192.168.1",
        "on 2024-05-0",
        "processed 52476.23",
        "order 1234567",
        "at 12:30",
        "self.rows",
        "go to www.example",
        "ssh deploy@web-1.exa",
        "npm i lodash@4.17",
        "@alice",
        "git show 3f2a9c1e8b",
        "password is required');",
        "const token = await getToken(",
        "sudo apt update\nls",
        "docker login ghcr.io\nalice",
        "Jan\t1200",
        "Host\tstring",
        "ask (139",
        "Alice",
    ],
)
def test_ordinary_words_are_not_withheld(text: str) -> None:
    assert partial(text) is None


def test_it_returns_a_finding_record() -> None:
    f = partial("card 4111 1111")
    assert isinstance(f, Finding) and f.kind == "credit_card"


def test_only_a_bounded_context_is_read() -> None:
    # A password key far before the fragment no longer counts; one a line before still does.
    assert partial("password: " + "x " * 2000 + "hun") is None
    assert withheld("password: hun") == ("hun", "password")
    long = "word " * 20_000 + "AKIA"
    start = time.process_time()
    for _ in range(50):
        assert partial(long) is not None
    assert (time.process_time() - start) / 50 < 0.01  # bounded, not proportional to the text


_BENCH = Path(__file__).resolve().parents[2] / "bench"


def _bench() -> object:
    sys.path.insert(0, str(_BENCH))
    try:
        for name in ("redact_everyday", "redact_corpus", "redact_holdout", "redact"):
            spec = importlib.util.spec_from_file_location(name, _BENCH / f"{name}.py")
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        return sys.modules["redact"]
    finally:
        sys.path.remove(str(_BENCH))


def test_false_positive_rate_on_ordinary_text_is_low() -> None:
    """Cut at every word end of the evaluation split's ordinary text: flagged well under 1%; and
    most planted values cut in half are withheld."""
    bench = _bench()
    corpus = bench.build("eval", 20240501, 120)  # type: ignore[attr-defined]
    rates = bench.partial_rates(corpus, 120)  # type: ignore[attr-defined]
    assert rates["word_ends"] > 5000
    assert rates["false_positive_rate"] < 0.005
    assert rates["withheld_rate"] > 0.75
