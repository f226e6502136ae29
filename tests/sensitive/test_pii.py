"""Personal data: e-mail, phone, payment card, IBAN and US SSN, with their look-alikes."""

from __future__ import annotations

import pytest

from tests.sensitive._helpers import found, iban, luhn

VISA = luhn("4", 16)
AMEX = luhn("37", 15)


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("write to bob.smith@example.com today", "email", "bob.smith@example.com"),
        ("<alice+billing@mail.acme.co.uk>", "email", "alice+billing@mail.acme.co.uk"),
        ("call +44 20 7946 0958 after 5", "phone", "+44 20 7946 0958"),
        ("call +14155552671.", "phone", "+14155552671"),
        ("cell: (415) 555-2671", "phone", "(415) 555-2671"),
        ("office 415.555.2671 ext", "phone", "415.555.2671"),
        ("Paris 01 23 45 67 89 or 06 12 34 56 78", "phone", "06 12 34 56 78"),
        ("London 020 7946 0958", "phone", "020 7946 0958"),
        ("Dublin (022) 12345", "phone", "(022) 12345"),
        ("phone: 4155552671", "phone", "4155552671"),
        (
            f"card {VISA[:4]} {VISA[4:8]} {VISA[8:12]} {VISA[12:]}",
            "credit_card",
            f"{VISA[:4]} {VISA[4:8]} {VISA[8:12]} {VISA[12:]}",
        ),
        (
            f"card {VISA[:4]}-{VISA[4:8]}-{VISA[8:12]}-{VISA[12:]}",
            "credit_card",
            f"{VISA[:4]}-{VISA[4:8]}-{VISA[8:12]}-{VISA[12:]}",
        ),
        (f"amex {AMEX[:4]} {AMEX[4:10]} {AMEX[10:]}", "credit_card", f"{AMEX[:4]} {AMEX[4:10]} {AMEX[10:]}"),
        (f"number={VISA}", "credit_card", VISA),
        ("test card 4111 1111 1111 1111", "credit_card", "4111 1111 1111 1111"),
        ("IBAN DE89 3704 0044 0532 0130 00 please", "iban", "DE89 3704 0044 0532 0130 00"),
        ("to GB82WEST12345698765432.", "iban", "GB82WEST12345698765432"),
        (f"nl {iban('NL', 'ABNA0417164300')}", "iban", iban("NL", "ABNA0417164300")),
        ("SSN 536-90-4399 on file", "us_ssn", "536-90-4399"),
        ("SSN: 536904399", "us_ssn", "536904399"),
        ("social security number is 536 90 4399", "us_ssn", "536 90 4399"),
    ],
)
def test_pii_is_found_with_exact_span(text: str, kind: str, value: str) -> None:
    assert (kind, value) in found(text)


@pytest.mark.parametrize(
    "text",
    [
        # e-mail look-alikes
        "git clone git@github.com:acme/api.git",
        "scp build.tgz deploy@web-1.example.com:/srv/",
        "ssh deploy@web-1.prod.example.com uptime",
        "https://alice@example.com/repo and logo@2x.png, icon@3x.webp",
        "npm i @types/node@20.11.5 lodash@4.17.21; user@localhost; @decorator",
        # phone look-alikes
        "released 2024-05-01 12:30:45, build 1.2.3, ip 192.168.100.200",
        "order no. 4155552671 and invoice #4155552671",
        "timestamps 1712345678901 1712345678",
        "dates 05.10.2023 and 10/05/2023",
        # card look-alikes
        f"{VISA[:-1]}{(int(VISA[-1]) + 1) % 10}",
        "1234 5678 9012 3456",
        "0000 0000 0000 0000",
        # IBAN look-alikes
        "DE88 3704 0044 0532 0130 00",
        "XX89 3704 0044 0532 0130 00",
        # SSN look-alikes
        "000-12-3456 666-12-3456 900-12-3456 123-00-4567 123-45-0000",
        "id 536904399",
        "part 536-90-43995",
    ],
)
def test_look_alikes_are_not_flagged(text: str) -> None:
    assert found(text) == []


def test_phone_inside_an_iban_like_string_is_not_a_phone() -> None:
    assert found("NL14 CWFC 0515 5396 08 was a typo") == []


def test_card_groups_inside_a_longer_number_are_not_a_card() -> None:
    assert found(f"PL85 {VISA[:4]} {VISA[4:8]} {VISA[8:12]} {VISA[12:]} 8914 4849") == []
