"""Development and evaluation templates for everyday phones, prose credentials and form logins.

Part of the corpus in ``redact_corpus.py`` (which merges these in): generators and templates for
the classes an independent held-out corpus found weakest — phone numbers in everyday formats
that need not validate against a numbering plan, credentials written in prose ("pw for staging:
…", "login admin / …", "my PIN is …") and passwords typed into login forms (Tab ``\\t``, Return
``\\n``, the typed-text guard's click separator ``\\x1f``, ``█`` runs for text redacted earlier).

Written after ``redact_holdout.py`` and independently of it (no generator or template shared).
The ``dev`` templates here were tuned against; the ``eval`` ones (``e4_*``) were written with
them and are run only to check the result, as with the earlier evaluation batches.
"""

from __future__ import annotations

import random
import string

# "X" any digit, "N" 2-9; other characters are kept.
_FORMATS = (
    "(NXX) NXX-XXXX", "NXX-NXX-XXXX", "NXX.NXX.XXXX", "1 (NXX) NXX XXXX", "+1.NXX.NXX.XXXX", "(XXX)XXX-XXXX",
    "XXX-XXX-XXXX", "0XXXX XXXXXX", "020 XXXX XXXX", "+44 (0) 1XXX XXXXXX", "07XXX XXX XXX", "0XXX/XXXXXXX",
    "+49 XXX XXXXXXX", "0XXX-XXXXXXX", "0X XX XX XX XX", "+33 (0)X XX XX XX XX", "(0X) XXXX XXXX",
    "04XX XXX XXX", "0X-XXXX-XXXX", "0XX-XXXXXXX", "+34 XXX XX XX XX", "(XX) XXXXX-XXXX", "+91 XXXXX XXXXX",
    "8 (XXX) XXX-XX-XX", "+NX XXX XXX XXXX", "+NXX XX XXX XXXX",
)  # fmt: skip


# Numbers written with no phone-only shape: bare digits, or groups that amounts and ids use too.
# Only their place tells them apart (a signature, the line after "call me", a name and brackets).
_BARE_FORMATS = (
    "NXXXXXXXXX", "1NXXXXXXXXX", "NXXXXXXX", "0NXXXXXXX", "00NXXXXXXXX", "NXX XX XXX", "NXX XXX XXX",
    "NXXX XXX", "NXX-XXXX", "NXX XX XX", "NXXXXXXXXXXX",
)  # fmt: skip


def everyday_phone(rng: random.Random, variant: str = "") -> str:
    """A number in a common written format with random digits (rarely valid in any plan);
    ``bare``: one with no phone-only shape (``_BARE_FORMATS``), never with an extension."""
    out = []
    for ch in rng.choice(_BARE_FORMATS if variant == "bare" else _FORMATS):
        out.append(rng.choice(string.digits) if ch == "X" else rng.choice("23456789") if ch == "N" else ch)
    number = "".join(out)
    if variant not in ("noext", "bare") and rng.random() < 0.12:
        number += rng.choice((" x", " ext. ", "x", " ext ")) + str(rng.randint(1, 9999))
    return number


def pin(rng: random.Random) -> str:
    return str(rng.randint(1, 9)) + "".join(rng.choice(string.digits) for _ in range(rng.randint(3, 7)))


def _isbn13(rng: random.Random) -> str:
    body = "978" + "".join(rng.choice(string.digits) for _ in range(9))
    check = (10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body)) % 10) % 10
    return f"{body[:3]}-{body[3]}-{body[4:7]}-{body[7:]}-{check}"


def _isbn10(rng: random.Random) -> str:
    body = "".join(rng.choice(string.digits) for _ in range(9))
    check = sum((10 - i) * int(d) for i, d in enumerate(body)) % 11
    mark = "X" if (11 - check) % 11 == 10 else str((11 - check) % 11)
    return f"{body[0]}-{body[1:4]}-{body[4:9]}-{mark}"


def _d(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


NEGATIVES = {
    "isbn": lambda rng: rng.choice((_isbn13(rng), _isbn10(rng), _isbn13(rng).replace("-", ""))),
    "ean13": lambda rng: rng.choice(("40", "50", "87", "76")) + _d(rng, 11),
    "ein": lambda rng: f"EIN {_d(rng, 2)}-{_d(rng, 7)}",
    "zip4": lambda rng: f"{_d(rng, 5)}-{_d(rng, 4)}",
    "latlng": lambda rng: f"{rng.uniform(-80, 80):.6f}, {rng.uniform(-170, 170):.6f}",
    "amazon_order": lambda rng: f"{_d(rng, 3)}-{_d(rng, 7)}-{_d(rng, 7)}",
    "usps": lambda rng: "9400 " + " ".join(_d(rng, 4) for _ in range(4)) + " " + _d(rng, 2),
    "win_build": lambda rng: f"10.0.{rng.randint(10000, 26100)}.{rng.randint(1, 5000)}",
    "thousands": lambda rng: rng.choice((f"{rng.randint(1, 999)} {_d(rng, 3)} {_d(rng, 3)}", f"{rng.randint(1, 99)},{_d(rng, 3)},{_d(rng, 3)}")),  # noqa: E501
    "line_col": lambda rng: f"line {rng.randint(1, 9999)}, column {rng.randint(1, 120)}",
    "digits8": lambda rng: str(rng.randint(10**7, 10**8 - 1)),
    "digits10": lambda rng: str(rng.randint(10**9, 10**10 - 1)),
    "thousands_sp": lambda rng: f"{rng.randint(100, 999)} {_d(rng, 3)} {_d(rng, 3)}",
    "date_compact": lambda rng: f"{rng.randint(1950, 2024)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}",
}

# fmt: off
TEMPLATES: list[tuple[str, str, str]] = [
    # everyday phones (development)
    ("d_phone_ring", "dev", "ring me on «phone:everyday» tonight, or try the office «phone:everyday»"),
    ("d_phone_signature", "dev", "--\n«@name»\n«phone:everyday»\n«email»\n"),
    ("d_phone_cell_hash", "dev", "cell# «phone:everyday» | office «phone:everyday»"),
    ("d_phone_number_is", "dev", "my number is «phone:everyday», landline is «phone:everyday»"),
    ("d_phone_ocr_table", "dev", "Name            Phone             Room\n«@name»      «phone:everyday»      «@int»\n"),
    ("d_phone_fax", "dev", "Fax: «phone:everyday»\nInvoice «!order_no», EIN on file: «!ein»"),
    ("d_phone_negatives", "dev", "ISBN «!isbn», barcode «!ean13», order «!amazon_order», tracking «!usps», build «!win_build», population «!thousands», «!line_col», at «!latlng», ZIP «!zip4»"),  # noqa: E501
    ("d_phone_code", "dev", "SUPPORT_PHONE = \"«phone:everyday»\"\nMAX_ITEMS = «!thousands»\n"),
    # phones placed where only the layout says "phone" (development)
    ("d_phone_sig_nolabel", "dev", "Thanks,\n«@name»\n«@project»\n«phone:bare»\n«email»\n"),
    ("d_phone_sig_pipes", "dev", "«@name» | «@project» | «phone:bare» | «email»\n"),
    ("d_phone_cue_line_above", "dev", "you can call me on\n«phone:bare»\nafter «!time»"),
    ("d_phone_name_paren", "dev", "«@first» («phone:bare») said the delivery is late"),
    ("d_phone_record_row", "dev", "«@name» | «@word» | «phone:bare» | «email»\n«@name» | «@word» | «phone:bare» | «email»\n"),  # noqa: E501
    ("d_phone_label_negatives", "dev", "Name  «@name»\nE-mail  «email»\nEmployee no  «!digits8»\nJoined  «!date_compact»\n"),  # noqa: E501
    ("d_phone_layout_negatives", "dev", "«@name» <«email»>\nCustomer ID\n«!digits10»\nTotal («!digits8»)\n«!thousands_sp» rows, order\n«!digits8»\n"),  # noqa: E501
    # prose credentials (development)
    ("d_prose_wifi_pass", "dev", "wifi pass is «password» (network «@word»-5G)"),
    ("d_prose_pw_for", "dev", "pw for prod db: «password»\nrotating it on «!date»"),
    ("d_prose_login_slash", "dev", "login: «@user» / «password»"),
    ("d_prose_pin", "dev", "my pin is «password:pin», don't tell anyone"),
    ("d_prose_pin_code", "dev", "bank card PIN code «password:pin»"),
    ("d_prose_password_to", "dev", "password to the NAS is «password» and the admin user is «@user»"),
    ("d_prose_creds_colon", "dev", "creds «@user»:«password» for the staging box"),
    ("d_prose_sign_in_as", "dev", "sign in as «@user» with «password»"),
    ("d_prose_username_password", "dev", "username «@user» password «password»"),
    ("d_prose_question", "dev", "what's the wifi password?\n«password»\nthanks!"),
    ("d_prose_wpa_key", "dev", "the wpa key is «password»"),
    ("d_prose_secret_key", "dev", "secret key: «generic_token:standalone»"),
    ("d_prose_negatives", "dev", "the password for the staging db is in the vault. pin the version to «!version». key: config-name. PIN reset happens via «!url»"),  # noqa: E501
    # form logins (development)
    ("d_form_email_tab", "dev", "«email»\t«password»\n"),
    ("d_form_click", "dev", "\x1f«@user»\x1f«password»\n"),
    ("d_form_redacted_email", "dev", "«@blocks»\t«password»\n"),
    ("d_form_pin", "dev", "«@user»\t«password:pin»\n"),
    ("d_form_signup", "dev", "«@first»\t«@first»\t«email»\t«password»\t«password:again»\n"),
    ("d_form_tsv", "dev", "id\tname\temail\n«@int»\t«@first»\t«email»\n«@int»\t«@first»\t«email»\n"),
    ("d_form_go_struct", "dev", "type Config struct {\n\tHost\tstring\n\tPort\tint\n}\n"),
    ("d_form_makefile", "dev", "build:\n\tgo build -o bin/app ./cmd/app\n\ttest:\n\tgo test ./...\n"),
    ("d_form_hosts", "dev", "127.0.0.1\tlocalhost\n«!ip»\t«!hostname»\n"),
    ("d_form_sheet", "dev", "Jan\t1200\nFeb\t1350\nMar\t1425\n"),
    # evaluation batch 4: written with the batch above, run only to check the result
    ("e4_phone_whatsapp", "eval", "whatsapp me «phone:everyday» after «!time»"),
    ("e4_phone_card", "eval", "«@name», «@project»\nT «phone:everyday»\nM «phone:everyday»\n«email»"),
    ("e4_phone_negatives", "eval", "Order «!amazon_order» shipped, tracking «!usps». ISBN «!isbn». Windows «!win_build». «!latlng»"),  # noqa: E501
    # evaluation batch 5: phones placed by layout, written with the development templates above
    ("e5_phone_sig_card", "eval", "Best regards\n«@name»\n«@project»\n«phone:bare»\n«email»"),
    ("e5_phone_text_me_above", "eval", "text me at\n«phone:bare»"),
    ("e5_phone_paren_name", "eval", "ask «@first» («phone:bare») about the keys"),
    ("e5_phone_label_negatives", "eval", "«@name»\n«email»\nDOB  «!date_compact»\nMember since «!date_compact»\nAccount  «!digits10»"),  # noqa: E501
    ("e5_phone_layout_negatives", "eval", "From: «@name» <«email»>\nInvoice\n«!digits8»\nPopulation («!thousands_sp»)\nEmployee no.\n«!digits10»"),  # noqa: E501
    ("e4_prose_pw_colon", "eval", "prod pw: «password» — ask before using"),
    ("e4_prose_login_as", "eval", "log in as «@user» / «password» to see the dashboard"),
    ("e4_prose_pin_is", "eval", "door PIN is «password:pin»"),
    ("e4_form_email_click", "eval", "\x1f«email»\x1f«password»\n"),
    ("e4_form_user_tab", "eval", "«@user»\t«password»\n"),
    ("e4_form_table", "eval", "name\tteam\n«@first»\t«@word»\n«@first»\t«@word»\n"),
]
# fmt: on
