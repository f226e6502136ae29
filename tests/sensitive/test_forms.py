"""Passwords typed into login forms: Tab (``\\t``), Return (``\\n``), the typed-text guard's click
separator (``\\x1f``) and ``█`` runs for text redacted earlier."""

from __future__ import annotations

import pytest

from jobshadow.sensitive import scan
from tests.sensitive._helpers import found

PW = "Tr0ub4dor&3"
BLOCKS = "\u2588" * 17


def passwords(text: str) -> list[str]:
    return [value for kind, value in found(text) if kind == "password"]


@pytest.mark.parametrize(
    "text",
    [
        f"jane.doe@example.com\t{PW}\n",
        f"jdoe\t{PW}\n",
        f"CORP\\jdoe\t{PW}\n",
        f"\x1fjdoe\x1f{PW}\n",
        f"{BLOCKS}\t{PW}\n",
        f"https://github.com/login\n\x1fjane.doe@example.com\x1f{PW}",  # ended by the end of the text
        f"jdoe\t{PW}\tremember\n",
        f"j.doe_2\x1f{PW}\r\n",
    ],
)
def test_the_field_after_a_user_field_is_a_password(text: str) -> None:
    assert passwords(text) == [PW]


def test_offsets_are_the_value_exactly() -> None:
    text = f"ok\njdoe\t{PW}\nnext"
    (f,) = scan(text)
    assert (f.kind, text[f.start : f.end]) == ("password", PW)


def test_a_pin_in_the_password_field() -> None:
    assert passwords("jdoe\t4821\n") == ["4821"]
    assert passwords("jdoe\t48213377\n") == ["48213377"]


def test_a_sign_up_form_with_a_confirmation() -> None:
    text = f"Jane\tDoe\tjane.doe@example.com\t{PW}\t{PW}\n"
    assert passwords(text) == [PW, PW]
    assert ("email", "jane.doe@example.com") in found(text)


@pytest.mark.parametrize(
    "text",
    [
        # typed tables: every line has cells separated by tabs
        "name\tteam\nalice\tsearch\nbob\tbilling\n",
        "alice@example.com\tadmin\nbob@example.com\tviewer\n",
        # aligned code
        "type Config struct {\n\tHost\tstring\n\tPort\tint\n}\n",
        "build:\n\tgo build -o bin/app ./cmd/app\n",
        # a sheet, hosts, names
        "Jan\t1200\nFeb\t1350\n",
        "Total\t4520\n",
        "127.0.0.1\tlocalhost\n",
        "Jane\tDoe\n",
        "Host\tstring\n",
        # values that are not passwords
        "jdoe\tjane.doe@example.com\n",
        "jdoe\thttps://example.com/x\n",
        "widget\t3.99\n",
        "alice\t12:30\n",
        "alice\t2024-05-01\n",
        "alice\t42\n",
        # shell completion: the field before the tab holds a space
        "cat READ\tME.md\n",
        "kubec\t get pods\n",
        # a field too long to be a user name
        "x" * 200 + f"\t{PW}\n",
    ],
)
def test_tabs_that_are_not_a_login_form(text: str) -> None:
    assert passwords(text) == []


def test_the_click_separator_is_never_a_table() -> None:
    # Same neighbouring tab lines as a table, but the click separator says "form field".
    text = f"name\tteam\nalice\tsearch\njdoe\x1f{PW}\nbob\tbilling\ncarol\tops\n"
    assert passwords(text) == [PW]
