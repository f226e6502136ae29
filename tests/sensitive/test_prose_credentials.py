"""Credentials written in prose: qualified keys, PINs, Wi-Fi keys, login pairs and replies."""

from __future__ import annotations

import pytest

from tests.sensitive._helpers import found

PW = "Tr0ub4dor&3"


def passwords(text: str) -> list[str]:
    return [value for kind, value in found(text) if kind == "password"]


@pytest.mark.parametrize(
    "text",
    [
        f"pw for staging: {PW}",
        f"prod db pw - {PW}",
        f"the password for the router is {PW} btw",
        f"password to the NAS is {PW} and the user is admin",
        f"my password's {PW}",
        f"login admin / {PW}",
        f"login: qa_user / {PW}",
        f"creds bob:{PW} for the staging box",
        f"credentials for the test tenant: jdoe / {PW}",
        f"sign in as alice with {PW}",
        f"log in with jdoe / {PW} until SSO works",
        f"username carol77 password {PW}",
        f"the wpa key is {PW}",
        f"wifi_key={PW}",
        f"Wi-Fi password: {PW}",
    ],
)
def test_prose_credentials_are_passwords(text: str) -> None:
    assert passwords(text) == [PW]


@pytest.mark.parametrize(
    ("text", "pin"),
    [
        ("my PIN is 4821", "4821"),
        ("PIN: 48213377", "48213377"),
        ("bank card PIN code 780841", "780841"),
        ("door pin number 0000", "0000"),
        ("the passcode for the bridge is 482193#", "482193#"),
    ],
)
def test_pins_are_passwords(text: str, pin: str) -> None:
    assert passwords(text) == [pin]


def test_a_question_for_a_password_and_its_reply() -> None:
    assert passwords(f"what's the wifi password?\n{PW}\nthanks!") == [PW]
    assert passwords("pw for the shared mailbox?\nSummer2024?\nthx") == ["Summer2024?"]


@pytest.mark.parametrize(
    "text",
    [
        "the password for the staging db is in the vault",
        "password - required field; password - see vault",
        "pin the version to 4.2.1 and pin 3 of the header",
        "PIN reset happens via the portal; the pin is required",
        "spin: 4821 rpm, mapping: 1234",
        "login page / dashboard, sign in with Google / Microsoft",
        "log in to the portal with your SSO credentials",
        "creds: see vault/prod/db",
        "account 12345/67890 and login admin/admin",
        "does anyone know why the password field is not required on signup?\nthanks!",
        "what's the wifi password?\nvault",
        "key: config-name",
        "cache key: 3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d",
        "key fingerprint is SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8",
        "sort(rows, key=lambda r: r[1])",
    ],
)
def test_prose_mentions_are_not_credentials(text: str) -> None:
    assert [kind for kind, _ in found(text)] == []


def test_an_unqualified_key_with_a_random_value_is_a_token() -> None:
    value = "Zq8Lr2Vx9Kp4Wm7Tn3Hd6Fb1Yc5Gs0Je"
    assert found(f"key: {value}") == [("generic_token", value)]
    assert found(f"secret key: {value}") == [("generic_token", value)]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("password: $ed6PbI4", "$ed6PbI4"),  # "$" then a mixed-case word is no shell variable
        ("[smtp]\npassword = BHbZNRpdSeOULtHs\n", "BHbZNRpdSeOULtHs"),  # random letters in an INI file
        ("the passphrase is (TfSR5We)R^", "(TfSR5We)R^"),
        ("pw for staging: VI3MQPoh(VA3_Yq", "VI3MQPoh(VA3_Yq"),  # an unclosed "(" is no call
        ("user bob pass Tiger_2022@ - change it", "Tiger_2022@"),  # "pass" mid-sentence is no command
    ],
)
def test_values_with_symbols_are_not_taken_for_code(text: str, value: str) -> None:
    assert passwords(text) == [value]


@pytest.mark.parametrize(
    "text",
    [
        "password: $DB_PASSWORD and pwd=$db_pass",
        "password = getpass.getpass() and password = os.environ['X']",
        "password: (bool) whether to ask",
        "pass show mail/work2",
        "self.password = dbPassword",
    ],
)
def test_code_and_commands_stay_unflagged(text: str) -> None:
    assert passwords(text) == []
