"""Phone numbers by their written shape, valid in a numbering plan or not, and their look-alikes."""

from __future__ import annotations

import pytest

from tests.sensitive._helpers import found


def phones(text: str) -> list[str]:
    return [value for kind, value in found(text) if kind == "phone"]


# Digits are arbitrary on purpose: "(123) 456-7890" is not a valid NANP number, and people write
# such numbers (mistyped, invented, abbreviated) all the time.
@pytest.mark.parametrize(
    "number",
    [
        "(415) 555-0134",
        "(123) 456-7890",
        "(051)123-4567",
        "415.555.0134",
        "415-555-0134",
        "1-800-555-0199",
        "+1 (415) 555-0134",
        "+1-555-123-4567",
        "001-555-123-4567",
        "+44 20 7946 0958",
        "+44 (0)20 7946 0958",
        "0171 234 5678",
        "07700 900123",
        "020 7946 0958",
        "030/1234567",
        "+49 30 12345678",
        "0049 30 1234567",
        "01 23 45 67 89",
        "06.12.34.56.78",
        "06-12345678",
        "0412 345 678",
        "(02) 9876 5432",
        "+91 98765 43210",
        "612 34 56 78",
        "(11) 91234-5678",
        "090-1234-5678",
        "138 0013 8000",
        "8 (912) 345-67-89",
        "+4915112345678",
        "0 2345 6789",
        "00421 944 565 186",
    ],
)
def test_everyday_formats_are_phones_without_plan_validation(number: str) -> None:
    assert phones(f"new number: {number}, thanks") == [number]
    assert phones(number) == [number]  # the shape alone decides, no phone word needed


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("call me at 555-0134 tonight", "555-0134"),
        ("my cell is 5550134", "5550134"),
        ("Tel.: 12345678", "12345678"),
        ("M 13812345678", "13812345678"),
        ("whatsapp: 512 345 678", "512 345 678"),
        ("ring me on 98765 43210", "98765 43210"),
        ("91234-5678 (cell)", "91234-5678"),
        ("tel:+14155550134", "+14155550134"),
        ("Customer asked for a callback on 6394 4658", "6394 4658"),
        ("Reception: 29240 33 213.", "29240 33 213"),
        ("work  180-51-42", "180-51-42"),
        ("313-5860 ext 8956", "313-5860 ext 8956"),
        ("my number is 07700900123", "07700900123"),
    ],
)
def test_ambiguous_shapes_count_after_a_phone_word(text: str, number: str) -> None:
    assert phones(text) == [number]


@pytest.mark.parametrize(
    "text",
    [
        "5550134 5550135",  # bare digits with no phone word: ids
        "population 512 345 678",  # thousands, no phone word
        "ISBN 978-3-16-148410-0 and 0-306-40615-2 and 0-7185-0634-X",
        "EIN 01-2345678, order no. 020 7946 0958, invoice #0171 234 5678",
        "released 2024-05-01 12:30:45 from 192.168.100.200, build 10.0.19045.3693",
        "dates 05.10.2023, 10/05/2023 and 2023/10/05; ZIP 94103-1234",
        "amount 84074.60 and 1 234 567 and 12,345,678",
        "order 112-3456789-1234567, tracking 9400 1234 5678 9012 3456 78",
        "at 37.774929, -122.419416 on line 1234, column 56",
        "timestamps 1712345678901 1712345678",
        "SSN 536-90-4399",
        "tracking number is 912745384631, your PIN 81143497",
        "order SO-0494-68749 and REQ-0171-2345678",
        "ping -c 3 37.122.93.28",
        'REQUEST_ID = "cf07b008-8274-4068-8547-e4d36ef77a10"',
        "Shipping label 004196783534, Barcode 0033525173836",
        "phone  179  3.715,85  2175963471407",  # a column header word, then other columns
    ],
)
def test_look_alikes_are_not_phones(text: str) -> None:
    assert phones(text) == []


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("call 555-123-4567 x204 today", "555-123-4567 x204"),
        ("office (415) 555-0134 ext. 12.", "(415) 555-0134 ext. 12"),
        ("555-123-4567x890", "555-123-4567x890"),
        ("ask for 399-7945 (ext. 68)", "399-7945 (ext. 68)"),
    ],
)
def test_extensions_are_part_of_the_number(text: str, number: str) -> None:
    assert phones(text) == [number]


def test_a_table_column_after_the_number_is_not_part_of_it() -> None:
    text = "Name            Phone             Room\nJane Doe        555-123-4567      42\n"
    assert phones(text) == ["555-123-4567"]


def test_two_numbers_in_one_line_are_two_findings() -> None:
    assert phones("Paris 01 23 45 67 89 or 06 12 34 56 78") == ["01 23 45 67 89", "06 12 34 56 78"]


def test_bare_trunk_numbers_and_form_fields() -> None:
    assert phones("07700900123") == ["07700900123"]  # a trunk 0 and 11 digits
    assert phones("Jane Doe\tjane@example.com\t18418472165\n") == ["18418472165"]
    assert phones("0000123456 and 4155550134") == []  # zero-padded ids, bare numbers


def test_a_single_digit_first_group_never_breaks_the_scan() -> None:
    from jobshadow.sensitive import scan

    scan("0 2345 6789 and 0-12 and (0) 12 34", strict=True)  # raised IndexError once


def test_digit_lists_and_long_runs_stay_linear_and_clean() -> None:
    assert phones("1 2 3 4 5 6 7 8 9 " * 2000) == []
    assert phones("10 20 30 40 50 60 70 80 90 100 " * 500) == []


# With no phone word and no phone-only shape, the layout can still say "phone".
@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("Thanks,\nAna Ruiz\nbilling-api\n722 611 936\nana.ruiz@example.com\n", "722 611 936"),
        ("--\nAna Ruiz\nSales, EMEA\n9076076066\n", "9076076066"),
        ("Ana Ruiz | billing | 445 75 949 | ana.ruiz@example.com", "445 75 949"),
        ("you can call me on\n113 7475\nafter six", "113 7475"),
        ("Mobile:\n9076076066", "9076076066"),
        ("Sergius (571-5121) said he is late", "571-5121"),
        ("ask Ana Ruiz (00908860445) about the keys", "00908860445"),
    ],
)
def test_layout_says_phone(text: str, number: str) -> None:
    found_phones = phones(text)  # a bracketed number's finding opens with the bracket, as elsewhere
    assert len(found_phones) == 1 and found_phones[0].lstrip("(") == number


@pytest.mark.parametrize(
    "text",
    [
        "Total (12345678) rows\n",
        "Population (944 484 935)\n",
        "Ana Ruiz\nana.ruiz@example.com\nEmployee no  12345678\nDate of birth  20060115\n",
        "Ana Ruiz <ana.ruiz@example.com>\nCustomer ID\n9076076066\n",
        "12345678 | Ana Ruiz | ana.ruiz@example.com",  # an id leads its row
        "Ana Ruiz\nana.ruiz@example.com\n20060115\n",  # a date, by its digits
        "the tracking number is\n9400856943\n",
        "I'll call you tomorrow about it\nref\n12345678\n",
    ],
)
def test_layout_without_phone_evidence_is_not_a_phone(text: str) -> None:
    assert phones(text) == []


def test_a_prompted_password_stays_a_password_in_a_contact_block() -> None:
    text = "ana.ruiz@example.com\n$ ssh ana@build-1\n912837465\n"
    assert found(text)[-1] == ("password", "912837465")
