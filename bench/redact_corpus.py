"""Labelled, seeded corpus for the secret/PII detector benchmark (``bench/redact.py``).

Documents are rendered from templates shaped like the text jobshadow sees: Slack messages, Jira
tickets, AI-assistant prompts, terminal keystrokes and OCR'd sessions, code and config files,
and e-mails. A template is plain text with slots:

* ``«kind»`` / ``«kind:variant»`` — a planted sensitive value; its span is recorded as the label.
  ``«kind:again»`` repeats the previous value of that kind (password confirmations).
* ``«!name»`` — a look-alike negative (git SHA, UUID, version, Luhn-invalid card, bad IBAN…).
* ``«@name»`` — neutral filler (names, hosts, words); never sensitive.

Every planted value is generated, never real: keys are random strings in the vendor's shape,
cards are Luhn-valid with issuer prefixes, IBANs carry correct mod-97 check digits, JWTs have a
real JSON header, phone numbers are valid in libphonenumber's plans. Templates are split into a
development set (used while tuning the detector) and an evaluation set; the split is by
template, so evaluation measures unseen phrasings. Neutral context lines (``_NEUTRAL``) surround
every document, as ordinary text surrounds secrets in real life.

Evaluation history, for honesty about what "held out" means here. The first evaluation batch
(``e_*``) was run once after tuning on the development set and exposed three gaps, fixed with
general rules: answer lines after a prompt that are the next command (``klist``) or the
prompt's own text on an OCR'd screen, and ``ssh user@host`` read as an e-mail. A second batch
(``e2_*``) was then written before running it and exposed decorated shell prompts
(``➜  api git:(main) sudo …``); a third (``e3_*``), written after that fix and run once, exposed
``sudo passwd alice`` read as a password. Each fix was a general rule, not a template-specific
patch, but the evaluation split has been looked at; write a fresh batch to get an untouched
estimate.
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import re
import string
from collections.abc import Callable
from dataclasses import dataclass

import phonenumbers
import redact_everyday

ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"
HEX = "0123456789abcdef"
UPPER_B32 = string.ascii_uppercase + "234567"


@dataclass(frozen=True, slots=True)
class Planted:
    start: int
    end: int
    kind: str
    value: str


@dataclass(frozen=True, slots=True)
class Doc:
    template: str
    split: str
    start: int  # offset of the document in the corpus text
    text: str
    planted: tuple[Planted, ...]  # offsets into the corpus text
    lookalikes: tuple[Planted, ...] = ()  # the «!negative» values, kind = the negative's name


@dataclass(frozen=True, slots=True)
class Corpus:
    text: str
    docs: tuple[Doc, ...]

    @property
    def planted(self) -> list[Planted]:
        return [p for d in self.docs for p in d.planted]


def _r(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _luhn_complete(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def _iban(rng: random.Random, country: str, bban_shape: str) -> str:
    # Shapes follow the registry's BBAN structure as banks fill it in practice: account parts
    # the registry allows to be alphanumeric are digits in real IBANs (CH, IT, FR).
    bban = "".join(
        rng.choice(string.digits) if c == "9" else rng.choice(string.ascii_uppercase) if c == "A" else c
        for c in bban_shape
    )
    numeric = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    check = 98 - int(numeric) % 97
    return f"{country}{check:02d}{bban}"


_IBAN_SHAPES = {
    "DE": "999999999999999999", "GB": "AAAA99999999999999", "FR": "99999999999999999999A99",
    "NL": "AAAA9999999999", "ES": "99999999999999999999", "IT": "A9999999999999999999999",
    "CH": "99999999999999999", "BE": "999999999999", "PL": "999999999999999999999999",
    "AT": "9999999999999999", "IE": "AAAA99999999999999", "SE": "99999999999999999999",
}  # fmt: skip


def _group4(s: str) -> str:
    return " ".join(s[i : i + 4] for i in range(0, len(s), 4))


def _phone(rng: random.Random, style: str) -> str:
    regions: tuple[str, ...] = ("US", "GB", "DE", "FR", "NL", "AU", "IN", "CH", "IE", "SE", "JP", "BR", "ES", "IT")
    national_ok: tuple[str, ...] = ("US", "GB", "DE", "FR", "NL", "AU", "CH", "IE")
    pool = ("US",) if style == "us" else national_ok if style == "national" else regions
    for _ in range(200):
        region = rng.choice(pool)
        kind = rng.choice((phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE))
        example = phonenumbers.example_number_for_type(region, kind)
        if example is None:
            continue
        digits = str(example.national_number)
        keep = min(3, len(digits) - 4)
        digits = digits[:keep] + _r(rng, string.digits, len(digits) - keep)
        num = phonenumbers.parse("+" + str(example.country_code) + digits, None)
        if not phonenumbers.is_valid_number(num):
            continue
        if style in ("national", "us"):
            return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL)
        if style == "e164":
            return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
        return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    raise RuntimeError("no valid phone number generated")


_FIRST = [
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "niaj",
    "olivia",
    "peggy",
    "rupert",
    "sybil",
    "trent",
    "victor",
    "walter",
    "yara",
    "zoe",
]
_LAST = [
    "smith",
    "jones",
    "garcia",
    "miller",
    "davis",
    "martinez",
    "lopez",
    "wilson",
    "anderson",
    "thomas",
    "moore",
    "jackson",
    "martin",
    "lee",
    "perez",
    "white",
    "harris",
    "clark",
    "lewis",
    "young",
]
_DOMAINS = [
    "example.com",
    "example.org",
    "acme.io",
    "initech.com",
    "globex.net",
    "hooli.xyz",
    "umbrella-corp.com",
    "contoso.co.uk",
    "wayne.enterprises",
    "stark-industries.de",
]
_WORDS = [
    "deploy",
    "release",
    "staging",
    "backend",
    "frontend",
    "billing",
    "search",
    "worker",
    "cache",
    "gateway",
    "payments",
    "analytics",
    "ingest",
    "reports",
    "auth",
    "inventory",
]


def _email(rng: random.Random, variant: str) -> str:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    dom = rng.choice(_DOMAINS)
    if variant == "sa":
        proj = f"{rng.choice(_WORDS)}-{rng.randint(100, 999)}"
        return f"{rng.choice(_WORDS)}-sa@{proj}.iam.gserviceaccount.com"
    local = rng.choice(
        (f"{first}.{last}", f"{first}{rng.randint(1, 99)}", f"{first[0]}{last}", f"{first}+{rng.choice(_WORDS)}",
         f"{first}_{last}", f"{last}.{first}{rng.randint(1, 9)}")
    )  # fmt: skip
    if rng.random() < 0.2:
        dom = f"mail.{dom}"
    return f"{local}@{dom}"


def _password(rng: random.Random, variant: str) -> str:
    if variant == "phrase":
        return "-".join(
            rng.choice(
                (
                    "correct",
                    "horse",
                    "battery",
                    "staple",
                    "orbit",
                    "maple",
                    "river",
                    "quartz",
                    "violet",
                    "ember",
                    "cobalt",
                    "saffron",
                )
            )
            for _ in range(4)
        ) + str(rng.randint(1, 99))
    if variant == "words":
        return " ".join(rng.choice(("purple", "monkey", "dishwasher", "lunar", "tiger", "velvet", "canyon", "eleven"))
                        for _ in range(4))  # fmt: skip
    style = rng.randrange(5)
    if style == 0:
        return rng.choice(("sunflower", "dragon", "hunter", "falcon", "marigold", "pepper", "shadow")) + str(
            rng.randint(1, 9999)
        )
    if style == 1:
        return _r(rng, ALNUM + "!#%&*@^", rng.randint(10, 20))
    if style == 2:
        return (
            rng.choice(("Summer", "Winter", "Autumn", "Spring", "Welcome", "Bluebird"))
            + str(rng.randint(2019, 2026))
            + rng.choice("!@#$?")
        )
    if style == 3:
        return (
            _r(rng, string.ascii_lowercase, 3)
            + _r(rng, string.digits, 2)
            + _r(rng, string.ascii_uppercase, 3)
            + rng.choice("!$%")
        )
    return "P" + _r(rng, ALNUM, rng.randint(8, 14)) + str(rng.randint(0, 9))


def _private_key(rng: random.Random, variant: str) -> str:
    label = rng.choice(("RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY",
                        "ENCRYPTED PRIVATE KEY", "PGP PRIVATE KEY BLOCK"))  # fmt: skip
    lines = [_r(rng, B64, 64) for _ in range(rng.randint(4, 14))] + [_r(rng, B64, rng.randint(8, 60)) + "=="]
    if variant == "json":
        body = "\\n".join(lines)
        return f"-----BEGIN PRIVATE KEY-----\\n{body}\\n-----END PRIVATE KEY-----\\n"
    head = f"-----BEGIN {label}-----\n" + "\n".join(lines)
    if variant == "truncated":
        return head
    return head + f"\n-----END {label}-----"


def _jwt(rng: random.Random) -> str:
    header = {"alg": rng.choice(("HS256", "RS256", "ES256")), "typ": "JWT"}
    if rng.random() < 0.3:
        header["kid"] = _r(rng, HEX, 16)
    payload = {
        "sub": str(rng.randint(10**6, 10**9)),
        "name": rng.choice(_FIRST).title(),
        "iat": rng.randint(1_600_000_000, 1_800_000_000),
    }
    sig = _r(rng, B64URL, rng.choice((43, 86, 342)))
    return ".".join((_b64u(json.dumps(header).encode()), _b64u(json.dumps(payload).encode()), sig))


def _generic(rng: random.Random, variant: str) -> str:
    if variant == "hex":
        return _r(rng, HEX, rng.choice((32, 40, 64)))
    n = rng.randint(32, 48)
    while True:
        v = _r(rng, ALNUM if variant == "standalone" else ALNUM + "-_", n)
        if any(c.isdigit() for c in v) and any(c.isupper() for c in v) and any(c.islower() for c in v):
            return v


def _card(rng: random.Random, variant: str) -> str:
    brand = rng.choice(("visa", "visa", "mc", "mc2", "amex", "discover", "jcb", "diners"))
    prefix, length = {
        "visa": ("4", 16), "mc": (str(rng.randint(51, 55)), 16), "mc2": (str(rng.randint(2221, 2720)), 16),
        "amex": (rng.choice(("34", "37")), 15), "discover": ("6011", 16), "jcb": (str(rng.randint(3528, 3589)), 16),
        "diners": (rng.choice(("36", "38")), 14),
    }[brand]  # fmt: skip
    num = _luhn_complete(rng, prefix, length)
    sep = rng.choice(("", " ", "-", " ")) if variant != "plain" else ""
    if not sep:
        return num
    if length == 15:
        return sep.join((num[:4], num[4:10], num[10:]))
    if length == 14:
        return sep.join((num[:4], num[4:10], num[10:]))
    return sep.join(num[i : i + 4] for i in range(0, 16, 4))


def _ssn(rng: random.Random, variant: str) -> str:
    while True:
        area = rng.randint(1, 899)
        if area != 666:
            break
    a, g, s = f"{area:03d}", f"{rng.randint(1, 99):02d}", f"{rng.randint(1, 9999):04d}"
    return f"{a}{g}{s}" if variant == "bare" else f"{a}-{g}-{s}"


def _azure_conn(rng: random.Random) -> str:
    acct = rng.choice(_WORDS) + str(rng.randint(10, 99))
    if rng.random() < 0.3:
        return (f"Endpoint=sb://{acct}.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
                f"SharedAccessKey={_r(rng, B64, 43)}=")  # fmt: skip
    return (f"DefaultEndpointsProtocol=https;AccountName={acct};AccountKey={_r(rng, B64, 86)}==;"
            "EndpointSuffix=core.windows.net")  # fmt: skip


# fmt: off
VALUES: dict[str, Callable[[random.Random, str], str]] = {
    "aws_access_key": lambda rng, v: "AKIAIOSFODNN7EXAMPLE" if v == "example" else rng.choice(("AKIA", "AKIA", "ASIA")) + _r(rng, UPPER_B32, 16),  # noqa: E501
    "aws_secret_key": lambda rng, v: _r(rng, B64, 40),
    "gcp_api_key": lambda rng, v: "AIza" + _r(rng, B64URL, 35),
    "gcp_service_account_key": lambda rng, v: _r(rng, HEX, 40) if v == "key_id" else _private_key(rng, "json"),
    "azure_storage_key": lambda rng, v: _r(rng, B64, 86) + "==",
    "azure_connection_string": lambda rng, v: _azure_conn(rng),
    "azure_client_secret": lambda rng, v: _r(rng, ALNUM + "_~.", 3) + str(rng.randint(0, 9)) + "Q~" + _r(rng, ALNUM + "_~.-", 34),  # noqa: E501
    "github_token": lambda rng, v: (f"github_pat_11{_r(rng, string.ascii_uppercase + string.digits, 20)}_{_r(rng, ALNUM, 59)}"  # noqa: E501
                                    if v == "pat" else rng.choice(("ghp_", "gho_", "ghu_", "ghs_", "ghr_")) + _r(rng, ALNUM, 36)),  # noqa: E501
    "gitlab_token": lambda rng, v: rng.choice(("glpat-", "glpat-", "gldt-", "glrt-")) + _r(rng, B64URL, 20),
    "slack_token": lambda rng, v: f"{rng.choice(('xoxb', 'xoxp', 'xoxe'))}-{_r(rng, string.digits, 12)}-{_r(rng, string.digits, 13)}-{_r(rng, ALNUM, 24)}",  # noqa: E501
    "slack_webhook": lambda rng, v: f"https://hooks.slack.com/services/T{_r(rng, UPPER_B32, 8)}/B{_r(rng, UPPER_B32, 10)}/{_r(rng, ALNUM, 24)}",  # noqa: E501
    "atlassian_token": lambda rng, v: "ATATT3xFfGF0" + _r(rng, B64URL, 170) + "=" + _r(rng, HEX.upper(), 8),
    "openai_api_key": lambda rng, v: ("sk-proj-" + _r(rng, B64URL, 74) + "T3BlbkFJ" + _r(rng, B64URL, 74)
                                      if v != "legacy" else "sk-" + _r(rng, ALNUM, 20) + "T3BlbkFJ" + _r(rng, ALNUM, 20)),  # noqa: E501
    "anthropic_api_key": lambda rng, v: "sk-ant-api03-" + _r(rng, B64URL, 93) + "AA",
    "stripe_key": lambda rng, v: rng.choice(("sk_live_", "sk_test_", "rk_live_", "pk_live_")) + "51" + _r(rng, ALNUM, rng.randint(24, 97)),  # noqa: E501
    "jwt": lambda rng, v: _jwt(rng),
    "private_key": _private_key,
    "generic_token": _generic,
    "password": lambda rng, v: redact_everyday.pin(rng) if v == "pin" else _password(rng, v),
    "email": _email,
    "phone": lambda rng, v: (
        redact_everyday.everyday_phone(rng, v) if v in ("everyday", "bare") else _phone(rng, v or "intl")
    ),
    "credit_card": _card,
    "iban": lambda rng, v: (lambda c: _group4(c) if v != "compact" else c)(
        _iban(rng, (cc := rng.choice(tuple(_IBAN_SHAPES))), _IBAN_SHAPES[cc])
    ),
    "us_ssn": _ssn,
}
# fmt: on


def _bad_card(rng: random.Random) -> str:
    num = _luhn_complete(rng, "4", 16)
    num = num[:-1] + str((int(num[-1]) + rng.randint(1, 9)) % 10)
    return " ".join(num[i : i + 4] for i in range(0, 16, 4)) if rng.random() < 0.5 else num


def _bad_iban(rng: random.Random) -> str:
    cc = rng.choice(tuple(_IBAN_SHAPES))
    good = _iban(rng, cc, _IBAN_SHAPES[cc])
    bad = good[:2] + f"{(int(good[2:4]) + rng.randint(1, 50)) % 97 + 2:02d}" + good[4:]
    return _group4(bad) if rng.random() < 0.5 else bad


# fmt: off
NEGATIVES: dict[str, Callable[[random.Random], str]] = {
    "git_sha": lambda rng: _r(rng, HEX, 40),
    "short_sha": lambda rng: _r(rng, HEX, rng.choice((7, 8, 12))),
    "uuid": lambda rng: "-".join(_r(rng, HEX, n) for n in (8, 4, 4, 4, 12)),
    "uuid_upper": lambda rng: "-".join(_r(rng, HEX.upper(), n) for n in (8, 4, 4, 4, 12)),
    "version": lambda rng: rng.choice(("", "v")) + f"{rng.randint(0, 20)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}" + rng.choice(("", "", "-rc.1", "-beta.2", "+build.7")),  # noqa: E501
    "semver_range": lambda rng: rng.choice(("^", "~", ">=")) + f"{rng.randint(0, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}" + rng.choice(("", f" <{rng.randint(1, 9)}.0.0")),  # noqa: E501
    "number": lambda rng: rng.choice((str(rng.randint(0, 10**6)), f"{rng.randint(0, 99999)}.{rng.randint(0, 99)}", f"{rng.randint(1, 999)},{rng.randint(100, 999)},{rng.randint(100, 999)}")),  # noqa: E501
    "big_int": lambda rng: str(rng.randint(10**9, 10**12)),
    "timestamp_ms": lambda rng: str(rng.randint(1_600_000_000_000, 1_800_000_000_000)),
    "date": lambda rng: rng.choice((f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", f"{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}/2025", f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.2023")),  # noqa: E501
    "datetime": lambda rng: f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",  # noqa: E501
    "time": lambda rng: f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
    "price": lambda rng: rng.choice(("$", "€", "£")) + f"{rng.randint(1, 9999):,}.{rng.randint(0, 99):02d}",
    "ticket": lambda rng: rng.choice(("JIRA", "OPS", "SEC", "PLAT", "INC")) + f"-{rng.randint(1, 99999)}",
    "unix_path": lambda rng: rng.choice(("/usr/lib/x86_64-linux-gnu/libssl.so.3", "/var/log/nginx/access.log", "/home/alice/.config/app/settings.json", "/etc/ssl/private/server.key", "/opt/app/releases/20240501120000/bin/server")),  # noqa: E501
    "win_path": lambda rng: rng.choice(("C:\\Users\\alice\\AppData\\Local\\Temp\\setup.log", "C:\\Program Files\\Git\\bin\\bash.exe", "D:\\builds\\2024\\release\\app.msi")),  # noqa: E501
    "identifier": lambda rng: rng.choice(("getUserAuthenticationTokenFromRequestHeaders", "test_password_reset_flow_sends_email_once", "AbstractSingletonProxyFactoryBeanDefinitionReader", "MAX_TOKEN_REFRESH_RETRY_INTERVAL_SECONDS", "handleOAuth2CallbackWithPKCEVerification", "userProfileImageThumbnailUrlForRetina2x")),  # noqa: E501
    "sha256": lambda rng: "sha256:" + _r(rng, HEX, 64),
    "docker_digest": lambda rng: rng.choice(("nginx", "python", "ghcr.io/acme/api")) + "@sha256:" + _r(rng, HEX, 64),
    "integrity": lambda rng: "sha512-" + _r(rng, B64, 86) + "==",
    "css_color": lambda rng: "#" + _r(rng, HEX, rng.choice((3, 6))),
    "bad_card": _bad_card,
    "bad_iban": _bad_iban,
    "ip": lambda rng: f"{rng.choice((10, 172, 192))}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
    "placeholder_key": lambda rng: rng.choice(("YOUR_API_KEY", "<your-token-here>", "sk-...", "xxxxxxxxxxxxxxxx", "${API_TOKEN}", "{{ secrets.TOKEN }}", "********", "<redacted>", "REPLACE_ME")),  # noqa: E501
    "bad_ssn": lambda rng: rng.choice(("000", "666", str(rng.randint(900, 999)))) + f"-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}",  # noqa: E501
    "k8s_pod": lambda rng: f"{rng.choice(_WORDS)}-{_r(rng, HEX, 9)}-{_r(rng, 'bcdfghjklmnpqrstvwxz2456789', 5)}",
    "email_like": lambda rng: rng.choice(("git@github.com:acme/api.git", "logo@2x.png", "icon@3x.webp", "@types/node@20.11.5", "user@localhost", "lodash@4.17.21", "node@sha256")),  # noqa: E501
    "hostname": lambda rng: f"{rng.choice(_WORDS)}-{rng.randint(1, 40):02d}.{rng.choice(('internal', 'prod.acme.io', 'eu-west-1.compute.internal'))}",  # noqa: E501
    "url": lambda rng: rng.choice(("https://github.com/acme/api/pull/", "https://acme.atlassian.net/browse/OPS-", "https://docs.python.org/3/library/re.html#", "https://console.cloud.google.com/home?project=")) + str(rng.randint(1, 9999)),  # noqa: E501
    "base64_blob": lambda rng: _r(rng, B64, rng.choice((24, 60, 120))) + "==",
    "order_no": lambda rng: rng.choice(("Order #", "order no. ", "Invoice INV-")) + str(rng.randint(10**7, 10**10)),
    "semver_list": lambda rng: ", ".join(f"{rng.randint(1, 3)}.{rng.randint(0, 12)}.{rng.randint(0, 9)}" for _ in range(3)),  # noqa: E501
    "snake_const": lambda rng: rng.choice(("AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "DB_PASSWORD_FILE", "STRIPE_SECRET_KEY")),  # noqa: E501
}
# fmt: on


def _filler(rng: random.Random, name: str) -> str:
    first = rng.choice(_FIRST)
    table: dict[str, Callable[[], str]] = {
        "first": lambda: first.title(),
        "user": lambda: first + rng.choice(("", str(rng.randint(1, 99)), "_" + rng.choice(_LAST))),
        "name": lambda: f"{first.title()} {rng.choice(_LAST).title()}",
        "host": lambda: f"{rng.choice(_WORDS)}-{rng.randint(1, 20)}",
        "domain": lambda: rng.choice(_DOMAINS),
        "word": lambda: rng.choice(_WORDS),
        "int": lambda: str(rng.randint(2, 500)),
        "port": lambda: str(rng.choice((5432, 3306, 6379, 8080, 443, 27017))),
        "branch": lambda: rng.choice(
            ("main", "develop", f"feature/{rng.choice(_WORDS)}", f"fix/{rng.choice(_WORDS)}-{rng.randint(1, 999)}")
        ),
        "project": lambda: f"{rng.choice(_WORDS)}-{rng.choice(('svc', 'api', 'web', 'etl'))}",
        "region": lambda: rng.choice(("us-east-1", "eu-west-1", "ap-southeast-2")),
        "blocks": lambda: "\u2588" * rng.randint(8, 30),  # text the device redacted earlier
        "cmd": lambda: rng.choice(
            (
                "ls -la",
                "cat README.md",
                "git status",
                "make test",
                "docker ps",
                "kubectl get pods -A",
                "htop",
                "uptime",
                "cd /srv/app",
                "exit",
            )
        ),
    }
    return table[name]()


# Neutral context: the ordinary text around secrets in real messages, files and sessions.
# Every line is sensitive-free by construction (only «!look-alike» and «@filler» slots). About
# half the lines are mundane; the rest mention the words detectors key on (password, token, key,
# secret) or carry look-alikes (SHAs, dates, versions) the way people write when no secret
# follows. They test precision and give the throughput figure a realistic, if still dense, mix.
# fmt: off
_NEUTRAL: dict[str, tuple[str, ...]] = {
    "chat": (
        'sounds good, thanks for checking',
        'on it',
        'can you take a look when you have a minute?',
        "I'll be a bit late to the sync, start without me",
        'does anyone have context on why we did it this way?',
        "let's move this to a thread",
        'good catch, I missed that',
        'I think the simplest fix is to retry on timeout and log the response body',
        "agreed, let's ship it and watch the dashboards",
        'who is on call this week?',
        'the demo went well, they want a follow-up next week',
        'lunch?',
        "lgtm, merging once CI is green",
        "standup moved to «!time» today",
        "can you review «!url» when you get a chance?",
        "deploy of «!version» to staging failed again, looking into it",
        "I'll rotate the API key tomorrow morning, the old one expires «!date»",
        "reset your password through the SSO portal, not here please",
        "the token refresh bug is «!ticket», fixed in «!short_sha»",
        "who owns «!hostname»? it's at 95% disk",
        "«@first» is out until «!date», ping «@first» instead",
        "nice, p95 latency down to «!number» ms after the cache change",
        "thanks!",
        "+1",
        "can we bump lodash to «!semver_range» in the next release?",
        "reminder: never paste secrets in this channel, use the vault",
        "the new pricing is «!price» per seat per month",
        "build «!big_int» is green, artifact «!sha256»",
        "meeting notes are in the doc, action items at the bottom",
        "does anyone know why the password field is not required on signup?",
        "the pod «!k8s_pod» keeps crashlooping with exit code 137",
        "ok",
    ),
    "ticket": (
        'Description:',
        'When the user opens the settings page the spinner never stops.',
        'This started after the last deploy and only affects Safari.',
        'Workaround: refresh the page twice.',
        'Assigning to the frontend team for triage.',
        'Moved to the backlog, not blocking the release.',
        'Comment: could not reproduce on staging, asking for a screen recording.',
        'Status: In Progress',
        "Priority: P«@int»",
        "Labels: backend, «@word», security-review",
        "Sprint «@int» · Story points: 3",
        "Environment: Chrome 121.0.6167.85 on macOS 14.2, build «!version»",
        "Expected result: the user is redirected to the dashboard",
        "Actual result: a blank page, console shows TypeError at «!unix_path»:«@int»",
        "Steps to reproduce:",
        "1. open «!url»",
        "2. click 'Forgot password' and submit the form",
        "Related: «!ticket», «!ticket»",
        "Affects version «!version», fixed in «!version»",
        "Linked commit «!git_sha»",
        "Customer impact: about «@int» accounts, no data loss",
        "Root cause: the session key cache was not invalidated after «!datetime»",
        "Acceptance criteria: token expiry is configurable per tenant",
        "Attachment: screenshot-«!date».png («@int» KB)",
    ),
    "terminal": (
        'ls',
        'pwd',
        'git diff',
        'git add -p',
        'git commit --amend --no-edit',
        'cd ..',
        'make lint',
        'docker compose logs -f api',
        'python manage.py migrate',
        'npm test',
        'cargo build --release',
        'less CHANGELOG.md',
        'tmux attach',
        "git status", "git log --oneline -n 5", "ls -la", "cd ~/src/«@project»", "make test",
        "docker compose up -d", "kubectl get pods -n «@word»", "python -m pytest -q", "vim README.md",
        "npm run build", "grep -rn TODO src/", "tail -f /var/log/syslog", "htop", "clear",
        "git checkout -b «@branch»", "git rebase origin/main", "terraform plan -out tf.plan",
        "curl -s https://api.«@domain»/health | jq .", "du -sh node_modules", "ps aux | grep «@word»",
        "kubectl logs «!k8s_pod» --tail 50", "docker pull python:«!version»", "cat «!unix_path»",
        "echo $PATH", "export KUBECONFIG=~/.kube/config", "pip install requests==2.31.0",
    ),
    "code": (
        '    return result',
        'if not items:',
        '    raise ValueError("items must not be empty")',
        'for user in users:',
        '    logger.debug("processing %s", user.name)',
        'class ReportBuilder:',
        '    def __init__(self, rows: list[dict[str, str]]) -> None:',
        '        self.rows = rows',
        'export function formatDate(d: Date): string {',
        '  return d.toISOString().slice(0, 10);',
        '@pytest.mark.parametrize("size", [1, 2, 3])',
        '# keep this in sync with the schema in docs/api.md',
        "def parse_config(path: str) -> dict:",
        "    return json.loads(Path(path).read_text())",
        "for i, item in enumerate(items):",
        "const token = await getToken(user.id);",
        "if (!password) throw new Error('password is required');",
        "self.max_tokens = 4096",
        "logger.info('refreshing token for %s', user_id)",
        "# TODO(«@first»): move the key rotation into a background job",
        "PASSWORD_MIN_LENGTH = 12",
        "cache_key = f\"user:{user_id}:profile\"",
        "assert response.status_code == 200, response.text",
        "color: «!css_color»;",
        "import { «!identifier» } from './auth';",
        "func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {",
        "    secret := os.Getenv(\"WEBHOOK_SECRET\")",
        "    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt())",
        "// version «!version», see «!url»",
        "let retries = 3; let timeoutMs = 30_000;",
        "}",
        "",
    ),
    "config": (
        '[server]',
        'host = "0.0.0.0"',
        'workers: 4',
        'enabled: true',
        'retries: 5',
        'log_format: json',
        'features:',
        '  - search',
        '  - export',
        'cache_ttl_seconds = 300',
        "log_level: info",
        "replicas: 3",
        "image: nginx:1.25.3",
        "timeout_seconds = 30",
        "[tool.ruff]",
        "max_connections=100",
        "TOKEN_TTL=3600",
        "session_key_prefix: sess_",
        "region: «@region»",
        "checksum: «!sha256»",
        "password_policy: strong",
        "secret_name: «@project»-secrets",
        "api_key_header: X-API-Key",
        "commit: «!git_sha»",
        "id: «!uuid»",
        "# generated «!datetime»",
    ),
    "email": (
        'Hope you had a good weekend.',
        'Following up on our call yesterday, here are the next steps.',
        'I have attached the updated proposal for your review.',
        'Could you confirm the delivery address before Friday?',
        'We will send the signed contract by the end of the week.',
        'Looking forward to hearing from you.',
        "Hi team,",
        "Thanks,",
        "Best regards,",
        "Please find attached the Q3 report.",
        "Let me know if you have any questions.",
        "The meeting is moved to Thursday «!time».",
        "«!order_no» is due on «!date», total «!price».",
        "Your password will expire in 14 days; change it from the account page.",
        "This message and any attachments are confidential.",
        "Sent from my phone",
        "On «!date» at «!time», «@name» wrote:",
        "> sounds good, see you then",
    ),
    "logs": (
        'INFO  server started on port 8080',
        'INFO  worker ready',
        'WARN  slow query detected, consider adding an index',
        'INFO  shutting down gracefully',
        'DEBUG cache warmed',
        'INFO  healthcheck ok',
        "«!datetime» INFO  [worker-«@int»] processed «!number» records in 2.3s",
        "«!datetime» WARN  retrying request id=«!uuid» (attempt 2/5)",
        "«!datetime» ERROR connection reset by peer «!ip»:«@port»",
        "«!datetime» DEBUG token cache hit ratio=0.93 size=«@int»",
        "«!datetime» INFO  GET /api/v1/items?page=«@int» 200 «@int»ms",
        "«!timestamp_ms» job=«!k8s_pod» status=done",
        "«!datetime» INFO  loaded key set kid=«!short_sha» (3 keys)",
        "«!datetime» INFO  password reset email queued for user «@int»",
    ),
}
# fmt: on


def _category(name: str) -> str:
    """Which neutral pool fits a template, from its name."""
    for words, category in (
        (("keys_", "ocr_", "curl"), "terminal"),
        (("code_", "stripe_code", "webhook_js"), "code"),
        (("config", "gcp_sa", "az_sp", "npmrc", "appsettings", "csv_"), "config"),
        (("jira",), "ticket"),
        (("email",), "email"),
        (("http_", "ci_", "gitleaks", "log"), "logs"),
    ):
        if any(w in name for w in words):
            return category
    return "chat"


def _with_context(template: Template, rng: random.Random) -> str:
    return wrap_in_context(template, rng, _NEUTRAL[_category(template.name)])


def wrap_in_context(template: Template, rng: random.Random, pool: tuple[str, ...]) -> str:
    """The template's body between a few random lines of ``pool`` (ordinary, secret-free text)."""
    before = [rng.choice(pool) for _ in range(rng.randint(0, 8))]
    after = [rng.choice(pool) for _ in range(rng.randint(0, 12))]
    body = template.body if template.body.endswith("\n") else template.body + "\n"
    return "".join(line + "\n" for line in before) + body + "".join(line + "\n" for line in after)


_SLOT = re.compile(r"«([!@]?)([a-z_0-9]+)(?::([a-z_0-9]+))?»")


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    split: str  # "dev", "eval" or "holdout"
    body: str


@dataclass(frozen=True, slots=True)
class Sources:
    """Where a template's slots get their text: planted values, look-alikes, filler, context.

    The held-out corpus (``redact_holdout.py``) brings its own, so it shares no generator with
    the splits the detector was developed on.
    """

    values: dict[str, Callable[[random.Random, str], str]]
    negatives: dict[str, Callable[[random.Random], str]]
    filler: Callable[[random.Random, str], str]
    context: Callable[[Template, random.Random], str]


def render(template: Template, rng: random.Random, offset: int, context: bool = True,
           sources: Sources | None = None) -> Doc:  # fmt: skip
    """Fill a template's slots (with neutral lines around it unless ``context`` is false)."""
    src = sources or DEFAULT_SOURCES
    source = src.context(template, rng) if context else template.body
    parts: list[str] = []
    planted: list[Planted] = []
    lookalikes: list[Planted] = []
    last: dict[str, str] = {}
    pos = 0
    length = offset
    for m in _SLOT.finditer(source):
        lit = source[pos : m.start()]
        parts.append(lit)
        length += len(lit)
        sigil, name, variant = m.group(1), m.group(2), m.group(3) or ""
        if sigil == "!":
            value = src.negatives[name](rng)
            lookalikes.append(Planted(length, length + len(value), name, value))
        elif sigil == "@":
            value = src.filler(rng, name)
        else:
            value = last[name] if variant == "again" else src.values[name](rng, variant)
            last[name] = value
            planted.append(Planted(length, length + len(value), name, value))
        parts.append(value)
        length += len(value)
        pos = m.end()
    parts.append(source[pos:])
    return Doc(template.name, template.split, offset, "".join(parts), tuple(planted), tuple(lookalikes))


def build(templates: list[Template], seed: int, size: int, split: str | None, context: bool = True,
          sources: Sources | None = None) -> Corpus:  # fmt: skip
    """``size`` documents, drawn round-robin over the templates of ``split`` (all when None)."""
    rng = random.Random(seed)
    chosen = [t for t in templates if split is None or t.split == split]
    docs: list[Doc] = []
    chunks: list[str] = []
    offset = 0
    sep = "\n\n\n"
    order = list(range(len(chosen)))
    for i in range(size):
        if i % len(chosen) == 0:
            rng.shuffle(order)
        doc = render(chosen[order[i % len(chosen)]], rng, offset, context, sources)
        docs.append(doc)
        chunks.append(doc.text)
        offset += len(doc.text) + len(sep)
    return Corpus(sep.join(chunks), tuple(docs))


def check(corpus: Corpus) -> list[str]:
    """Problems that make the corpus unusable as labels (empty when it is sound)."""
    problems: list[str] = []
    spans = sorted(corpus.planted, key=lambda p: p.start)
    for p in spans:
        if corpus.text[p.start : p.end] != p.value:
            problems.append(f"planted {p.kind} at {p.start} does not match the text")
    for a, b in itertools.pairwise(spans):
        if b.start < a.end:
            problems.append(f"planted spans overlap at {b.start}")
    return problems


def _t(name: str, split: str, body: str) -> Template:
    return Template(name, split, body)


# Development templates: the detector was tuned against these.
# fmt: off
_DEV = [
    _t("slack_staging_creds", "dev", "hey «@first», staging db creds: user app, password «password» — rotate after the demo. build «!short_sha» is on «!version» :rocket:"),  # noqa: E501
    _t("slack_bot_token", "dev", "can someone check why the bot fails? token is «slack_token» and the webhook is «slack_webhook». Ticket «!ticket», posted «!datetime»"),  # noqa: E501
    _t("jira_payment_failure", "dev", "«!ticket»: Payment failures for customer «email»\nReporter: «@name»\nCustomer phone: «phone:intl»\nCard on file: «credit_card» (Luhn passed)\n«!order_no», amount «!price» on «!date»\nSee «!url»"),  # noqa: E501
    _t("jira_openai_repro", "dev", "Steps to reproduce:\n1. export OPENAI_API_KEY=«openai_api_key»\n2. run `python app.py --model gpt-4o --max-tokens «@int»`\n3. see error at «!unix_path» line «@int»\nEnvironment: python «!version», commit «!git_sha»"),  # noqa: E501
    _t("ai_anthropic_code", "dev", "I'm getting 401 from the API. Here's my code:\n```python\nimport anthropic\nclient = anthropic.Anthropic(api_key=\"«anthropic_api_key»\")\nresp = client.messages.create(model=\"claude-sonnet\", max_tokens=1024, messages=msgs)\n```\nWhat am I doing wrong? Request id «!uuid»."),  # noqa: E501
    _t("ai_aws_credentials_file", "dev", "Why does boto3 say InvalidClientTokenId? my ~/.aws/credentials:\n[default]\naws_access_key_id = «aws_access_key»\naws_secret_access_key = «aws_secret_key»\nregion = «@region»\n"),  # noqa: E501
    _t("keys_sudo_restart", "dev", "cd /srv/app\ngit pull\nsudo systemctl restart «@word»\n«password»\njournalctl -u «@word» -n 50\n"),  # noqa: E501
    _t("keys_ssh_password", "dev", "ssh «@user»@«!ip»\n«password»\nuptime\ndf -h\nexit\n"),
    _t("keys_mysql_prompt", "dev", "mysql -u root -p\n«password»\nshow databases;\nuse «@word»;\n"),
    _t("keys_git_https", "dev", "git push origin «@branch»\n«@user»\n«github_token»\n«@cmd»\n"),
    _t("keys_sudo_negatives", "dev", "sudo apt update\nsudo apt upgrade -y\n«@cmd»\nls\nsudo -n true\nhtop\nssh «@host»\nuptime\n"),  # noqa: E501
    _t("code_django_settings", "dev", "DATABASES = {\n    \"default\": {\n        \"ENGINE\": \"django.db.backends.postgresql\",\n        \"NAME\": \"«@word»\",\n        \"USER\": \"«@user»\",\n        \"PASSWORD\": \"«password»\",\n        \"HOST\": \"«!hostname»\",\n        \"PORT\": «@port»,\n    }\n}\nSECRET_KEY = \"«generic_token»\"\nSTRIPE_KEY = \"«stripe_key»\"\nPASSWORD_MIN_LENGTH = 12\n"),  # noqa: E501
    _t("code_js_octokit", "dev", "const octokit = new Octokit({ auth: '«github_token»' });\nconst color = '«!css_color»';\nconst requestId = '«!uuid»';\nfunction «!identifier»(token) {\n  return fetch(url, { headers: { Authorization: `Bearer ${token}` } });\n}\n"),  # noqa: E501
    _t("config_dotenv", "dev", "NODE_ENV=production\nPORT=«@port»\nDATABASE_URL=postgres://app:«password»@«!hostname»:5432/app\nGOOGLE_API_KEY=«gcp_api_key»\nGITLAB_TOKEN=«gitlab_token»\nSENTRY_RELEASE=«!git_sha»\nAPI_TOKEN=«!placeholder_key»\n"),
    _t("config_k8s_secret", "dev", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: «@project»\nstringData:\n  AZURE_STORAGE_CONNECTION_STRING: \"«azure_connection_string»\"\n  jira_api_token: «atlassian_token»\n  image: «!docker_digest»\n"),  # noqa: E501
    _t("config_gcp_sa_json", "dev", "{\n  \"type\": \"service_account\",\n  \"project_id\": \"«@project»\",\n  \"private_key_id\": \"«gcp_service_account_key:key_id»\",\n  \"private_key\": \"«gcp_service_account_key:pem»\",\n  \"client_email\": \"«email:sa»\",\n  \"client_id\": \"«!big_int»\",\n  \"token_uri\": \"https://oauth2.googleapis.com/token\"\n}\n"),  # noqa: E501
    _t("email_new_iban", "dev", "From: «@name» <«email»>\nSubject: new bank details\n\nHello, please update my payment details. New IBAN: «iban»\nPhone: «phone:national»\nThanks,\n«@name»\n"),  # noqa: E501
    _t("email_background_check", "dev", "Hi «@first», for the background check I need your SSN («us_ssn») and date of birth («!date»). Ref «!ticket». Do not reply with «!bad_ssn» style test numbers."),  # noqa: E501
    _t("slack_pasted_key", "dev", "pasting the deploy key so you can test:\n«private_key»\ndon't forward pls"),
    _t("ai_jwt_expired", "dev", "Decode this JWT and tell me why it's expired: «jwt» — our server clock says «!datetime»."),  # noqa: E501
    _t("keys_docker_login", "dev", "docker login registry.«@domain»\n«@user»\n«password»\ndocker push registry.«@domain»/«@project»:«!version»\n"),  # noqa: E501
    _t("code_azure_identity", "dev", "credential = ClientSecretCredential(\n    tenant_id=\"«!uuid»\",\n    client_id=\"«!uuid»\",\n    client_secret=\"«azure_client_secret»\",\n)\n"),  # noqa: E501
    _t("keys_az_cli", "dev", "az storage blob upload --account-name «@word»data --account-key «azure_storage_key» -c backups -f «!unix_path»\n"),  # noqa: E501
    _t("jira_log_excerpt", "dev", "Log excerpt:\n«!datetime» INFO request_id=«!uuid» agent=curl/«!version» latency=«!number»ms\n«!datetime» WARN retry 3 for job «!k8s_pod» on «!ip»\n«!datetime» ERROR card declined for «credit_card:plain» amount «!price»\n"),  # noqa: E501
    _t("slack_call_me", "dev", "call me on «phone:us» or my cell «phone:e164», office hours «!time»-«!time», and the old desk line «phone:everyday»"),  # noqa: E501
    _t("email_signature", "dev", "Thanks for the quick turnaround!\n--\n«@name»\nSenior Engineer, «@project»\nM: «phone:intl»\nE: «email»\n"),  # noqa: E501
    _t("code_lockfile_gitlog", "dev", "\"node_modules/lodash\": {\n  \"version\": \"4.17.21\",\n  \"integrity\": \"«!integrity»\"\n},\nFROM «!docker_digest»\ncommit «!git_sha»\nAuthor: «@name» <«email»>\nDate: «!datetime»\n\n    bump «!email_like» to «!semver_range»\n"),  # noqa: E501
    _t("keys_psql", "dev", "psql -h «!hostname» -U «@user» «@word»\n«password»\n\\dt\nselect count(*) from users;\n"),
    _t("slack_stripe_test", "dev", "test with «stripe_key» please, not the live one. amount «!price», order «!order_no»"),  # noqa: E501
    _t("csv_aws_credentials", "dev", "User name,Password,Access key ID,Secret access key,Console login link\n«@user»,,«aws_access_key»,«aws_secret_key»,«!url»\n"),  # noqa: E501
    _t("slack_standalone_token", "dev", "here's the staging tenant one «generic_token:standalone» — expires «!date»"),
    _t("http_api_headers", "dev", "GET /v1/reports HTTP/1.1\nHost: api.«@domain»\nX-API-Key: «generic_token»\nX-Request-Id: «!uuid»\nIf-None-Match: \"«!git_sha»\"\n\ncurl -H \"Authorization: Bearer «generic_token»\" https://api.«@domain»/v1/me\napi_key=«generic_token:hex»\n"),  # noqa: E501
    _t("code_negatives_only", "dev", "def «!identifier»(self):\n    path = r\"«!win_path»\"\n    blob = \"«!base64_blob»\"\n    env = os.environ[\"«!snake_const»\"]\n    token = get_token()\n    password = getpass.getpass()\n    return {\"sha\": \"«!git_sha»\", \"id\": \"«!uuid_upper»\", \"lib\": \"«!unix_path»\"}\n"),  # noqa: E501
    _t("ocr_sudo_prompt", "dev", "«@user»@«@host»:~$ sudo apt install nginx\n[sudo] password for «@user»:\nReading package lists... Done\nBuilding dependency tree... Done\n«@user»@«@host»:~$ «@cmd»\n"),  # noqa: E501
    _t("chat_card_and_iban", "dev", "my card is «credit_card» exp 08/27 and the refund can go to «iban:compact» instead; card «!bad_card» was the old one, and «!bad_iban» was a typo"),  # noqa: E501
    _t("keys_pwd_and_misc", "dev", "export PGPASSWORD=«password»\npsql -h «!hostname» -U app -c 'select 1'\nmysql -u app -p«password» -h «!hostname» app\n"),  # noqa: E501
    _t("ci_printenv_dump", "dev", "Run printenv\nCI=true\nGITHUB_TOKEN=«github_token»\nGH_PAT=«github_token:pat»\nSLACK_BOT_TOKEN=«slack_token»\nJIRA_API_TOKEN=«atlassian_token»\nOPENAI_API_KEY=«openai_api_key:legacy»\nANTHROPIC_API_KEY=«anthropic_api_key»\nGOOGLE_MAPS_KEY=«gcp_api_key»\nGL_TOKEN=«gitlab_token»\nHOME=/home/runner\nRUNNER_TEMP=«!unix_path»\n"),  # noqa: E501
    _t("ai_compose_from_env", "dev", "Here is my .env, can you write a docker-compose file that uses it?\n\nSTRIPE_SECRET=«stripe_key»\nAZURE_STORAGE_KEY=«azure_storage_key»\nAZURE_CONN=«azure_connection_string»\nAUTH0_CLIENT_SECRET=«generic_token»\nSESSION_JWT=«jwt»\nTZ=Europe/Berlin\n"),  # noqa: E501
    _t("keys_webhook_curl", "dev", "curl -X POST -H 'Content-type: application/json' --data '{\"text\":\"deploy «!version» done\"}' «slack_webhook»\n"),  # noqa: E501
    _t("keys_cat_ssh_key", "dev", "cat ~/.ssh/id_ed25519\n«private_key»\n"),
    _t("http_cookie_jwt", "dev", "Cookie: session=«jwt»; theme=dark; tz=«!number»\nUser-Agent: Mozilla/5.0\n"),
    _t("az_sp_output", "dev", "{\n  \"appId\": \"«!uuid»\",\n  \"displayName\": \"«@project»\",\n  \"password\": \"«azure_client_secret»\",\n  \"tenant\": \"«!uuid»\"\n}\n"),  # noqa: E501
    _t("gcp_sa_compact", "dev", "GOOGLE_CREDENTIALS='{\"type\":\"service_account\",\"private_key_id\":\"«gcp_service_account_key:key_id»\",\"private_key\":\"«gcp_service_account_key:pem»\",\"client_email\":\"«email:sa»\"}'\n"),  # noqa: E501
]
# fmt: on

# Evaluation templates: never consulted while tuning; different phrasings of the same kinds.
# fmt: off
_EVAL = [
    _t("e_slack_vpn", "eval", "«@first»: new VPN login is «@user» / pass: «password» (expires «!date»)"),
    _t("e_slack_pat", "eval", "FYI rotated the GitHub PAT, new one: «github_token:pat» ; old one «!placeholder_key» is revoked. See «!url»"),  # noqa: E501
    _t("e_jira_customer", "eval", "Customer: «@name»\nEmail: «email»\nTel: «phone:national»\nBank account (IBAN): «iban:compact»\nPrevious ticket «!ticket», invoice «!order_no»\n"),  # noqa: E501
    _t("e_jira_ssn", "eval", "HR request «!ticket»: employee «@name» SSN «us_ssn:bare» needs correction (was entered as «!bad_ssn»)."),  # noqa: E501
    _t("e_ai_openai_js", "eval", "```js\nconst openai = new OpenAI({ apiKey: '«openai_api_key:legacy»' });\n```\nWhy do I get 429? Deployed from «!short_sha» at «!time»."),  # noqa: E501
    _t("e_ai_maps_curl", "eval", "Help me fix this curl: curl 'https://maps.googleapis.com/maps/api/geocode/json?address=Berlin&key=«gcp_api_key»' returns REQUEST_DENIED since «!date»"),  # noqa: E501
    _t("e_keys_su", "eval", "su - postgres\n«password»\npg_dump «@word» > /tmp/«@word».sql\nexit\n"),
    _t("e_keys_sudo_retry", "eval", "sudo -i\n«password»\n«password»\nwhoami\n"),
    _t("e_keys_passwd", "eval", "passwd\n«password»\n«password»\n«password:again»\n"),
    _t("e_keys_scp", "eval", "scp backup.tar.gz «@user»@«!hostname»:/srv/backups/\n«password»\nls -lh\n"),
    _t("e_keys_gpg", "eval", "gpg --symmetric --cipher-algo AES256 secrets.tar\n«password:words»\n«password:again»\n"),
    _t("e_keys_inline", "eval", "mysqldump -u admin -p«password» --all-databases > dump.sql\nsshpass -p '«password»' ssh deploy@«!hostname» 'systemctl restart app'\n"),  # noqa: E501
    _t("e_keys_negatives", "eval", "ssh «@host»\nhtop\nsudo systemctl status nginx\nsudo journalctl -xe\ngit log --oneline -n 5\n«!short_sha» Fix flaky test\n"),  # noqa: E501
    _t("e_code_go", "eval", "const apiToken = \"«generic_token»\"\nvar buildID = \"«!git_sha»\"\n\nfunc «!identifier»(ctx context.Context) error {\n\treturn client.Do(ctx, \"«!uuid»\")\n}\n"),  # noqa: E501
    _t("e_code_terraform", "eval", "provider \"aws\" {\n  region     = \"«@region»\"\n  access_key = \"«aws_access_key»\"\n  secret_key = \"«aws_secret_key»\"\n}\n"),  # noqa: E501
    _t("e_config_yaml", "eval", "database:\n  host: «!hostname»\n  port: «@port»\n  username: «@user»\n  password: \"«password»\"\nslack:\n  webhook_url: «slack_webhook»\n  bot_token: «slack_token»\n"),  # noqa: E501
    _t("e_config_npmrc", "eval", "//registry.npmjs.org/:_authToken=«generic_token»\n//gitlab.«@domain»/api/v4/packages/npm/:_authToken=«gitlab_token»\n"),  # noqa: E501
    _t("e_config_connstr", "eval", "Server=tcp:«@word».database.windows.net,1433;Initial Catalog=«@word»;User ID=«@user»;Password=«password»;Encrypt=True;\nBlobStorage=\"«azure_connection_string»\"\n"),  # noqa: E501
    _t("e_email_payment", "eval", "Dear «@name»,\nyour card «credit_card» was charged «!price» on «!date». If this wasn't you call «phone:intl».\nRegards"),  # noqa: E501
    _t("e_email_wire", "eval", "Please wire the deposit to IBAN «iban» (BIC DEUTDEFF). Reference: «!order_no». Questions? «email»"),  # noqa: E501
    _t("e_slack_keys_dump", "eval", "lol I accidentally pasted prod keys in #general:\nSTRIPE_SECRET_KEY=«stripe_key»\nANTHROPIC_API_KEY=«anthropic_api_key»\nATLASSIAN_TOKEN=«atlassian_token»\nplease rotate"),  # noqa: E501
    _t("e_ai_pem", "eval", "My nginx won't start, it says key mismatch. Here is the key file:\n«private_key:truncated»"),  # noqa: E501
    _t("e_ai_id_token", "eval", "here's the id_token from the callback, why is aud wrong?\n«jwt»\n"),
    _t("e_code_sa_dict", "eval", "creds = service_account.Credentials.from_service_account_info({\"type\": \"service_account\", \"private_key_id\": \"«gcp_service_account_key:key_id»\", \"private_key\": \"«gcp_service_account_key:pem»\", \"client_email\": \"«email:sa»\"})\n"),  # noqa: E501
    _t("e_config_azure_env", "eval", "AZURE_STORAGE_ACCOUNT=«@word»store\nAZURE_STORAGE_KEY=«azure_storage_key»\nAZURE_CLIENT_SECRET=«azure_client_secret»\nAZURE_TENANT_ID=«!uuid»\n"),  # noqa: E501
    _t("e_chat_contact", "eval", "You can reach «@first» at «phone:e164» (whatsapp) or «email». Meeting at «!time» on «!date»."),  # noqa: E501
    _t("e_jira_versions", "eval", "Affects versions: «!semver_list»\nFix version: «!version»\nDepends on «!semver_range»\nBuild «!big_int», started «!timestamp_ms»\nArtifact «!sha256»\nPod «!k8s_pod» on «!ip»\nAssignee: «email»\n"),  # noqa: E501
    _t("e_keys_curl", "eval", "curl -u «@user»:«password» https://ci.«@domain»/api/json\ncurl -H 'Authorization: Bearer «generic_token»' https://api.«@domain»/v1/me\n"),  # noqa: E501
    _t("e_code_card_tests", "eval", "# luhn-invalid and checksum-invalid look-alikes\nassert not is_valid(\"«!bad_card»\")\nassert not is_iban(\"«!bad_iban»\")\nassert is_valid(\"«credit_card»\")\n"),  # noqa: E501
    _t("e_keys_kinit", "eval", "kinit «@user»\n«password»\nklist\n"),
    _t("e_slack_standalone", "eval", "use this one for staging «generic_token:standalone» and don't commit it 🙏"),
    _t("e_email_ssn", "eval", "Hi, per your request my social security number is «us_ssn» and my phone is «phone:us»."),
    _t("e_ocr_terminal", "eval", "«@user»@«@host»:~/src$ git log -3 --format='%h %s'\n«!short_sha» bump «!version»\n«!short_sha» fix «!ticket»\n«@user»@«@host»:~/src$ ls «!unix_path»\n«@user»@«@host»:~/src$ ssh-add ~/.ssh/id_ed25519\nEnter passphrase for /home/«@user»/.ssh/id_ed25519:\n"),  # noqa: E501
    _t("e_ai_review_code", "eval", "Review this for security issues:\n```python\nDB_URL = \"mysql://root:«password»@«!hostname»/shop\"\nAWS_KEY = \"«aws_access_key:example»\"\nHEADERS = {\"Authorization\": f\"token {«!snake_const»}\"}\ncolor = \"«!css_color»\"\n```"),  # noqa: E501
    _t("e_gitleaks_report", "eval", "gitleaks report:\nFinding: «github_token»\nRuleID: github-pat\nFile: .github/workflows/deploy.yml\nCommit: «!git_sha»\n\nFinding: «slack_token»\nRuleID: slack-bot-token\n\nFinding: «gcp_api_key»\nRuleID: gcp-api-key\n\nFinding: «gitlab_token»\n\nFinding: «openai_api_key»\nEntropy: 4.71\n"),  # noqa: E501
    _t("e_chat_dm_keys", "eval", "dm'ing you the jira token since confluence is down: «atlassian_token» and the anthropic one «anthropic_api_key»; aws is «aws_access_key» / «aws_secret_key»"),  # noqa: E501
    _t("e_webhook_js", "eval", "await fetch(\"«slack_webhook»\", { method: \"POST\", body: JSON.stringify({ text: msg }) });\n"),  # noqa: E501
    _t("e_keys_cat_pem", "eval", "cat deploy_key.pem\n«private_key»\nchmod 600 deploy_key.pem\n"),
    _t("e_config_appsettings", "eval", "{\n  \"ConnectionStrings\": { \"Storage\": \"«azure_connection_string»\" },\n  \"AzureAd\": { \"ClientId\": \"«!uuid»\", \"ClientSecret\": \"«azure_client_secret»\" },\n  \"Storage\": { \"AccountKey\": \"«azure_storage_key»\" }\n}\n"),  # noqa: E501
    _t("e_curl_jwt", "eval", "curl -H \"Authorization: Bearer «jwt»\" https://api.«@domain»/v2/orders?since=«!date»\n"),
    _t("e_gcp_sa_jq", "eval", "cat sa.json | jq .\n{\n  \"type\": \"service_account\",\n  \"project_id\": \"«@project»\",\n  \"private_key_id\": \"«gcp_service_account_key:key_id»\",\n  \"private_key\": \"«gcp_service_account_key:pem»\"\n}\n"),  # noqa: E501
    _t("e_stripe_code", "eval", "stripe.api_key = \"«stripe_key»\"\nstripe.PaymentIntent.create(amount=«@int»00, currency=\"usd\")\n"),  # noqa: E501
    _t("e_ssn_form", "eval", "Applicant SSN: «us_ssn»\nDOB: «!date»\nPhone: «phone:national»\nCase «!ticket»\n"),
    # Second evaluation batch, written after the first evaluation run had exposed three gaps
    # (see the module docstring) and never used for tuning either.
    _t("e2_teams_handover", "eval", "handover for the weekend: vpn user is «@user», pw «password» (rotate monday). on-call phone «phone:intl». grafana token «generic_token»"),  # noqa: E501
    _t("e2_zsh_session", "eval", "➜  «@project» git:(main) sudo -k\n➜  «@project» git:(main) sudo tcpdump -i eth0 port «@port»\n«password»\n➜  «@project» git:(main) ls\n"),  # noqa: E501
    _t("e2_psql_url", "eval", "psql \"postgresql://reporting:«password»@«!hostname»:5432/analytics?sslmode=require\"\n\\dt\n"),
    _t("e2_k8s_env_json", "eval", "{\"name\": \"OPENAI_API_KEY\", \"value\": \"«openai_api_key»\"},\n{\"name\": \"SLACK_WEBHOOK\", \"value\": \"«slack_webhook»\"},\n{\"name\": \"BUILD_SHA\", \"value\": \"«!git_sha»\"}\n"),  # noqa: E501
    _t("e2_support_form", "eval", "Name: «@name»\nE-mail address: «email»\nMobile: «phone:e164»\nSocial Security No.: «us_ssn»\nCard number: «credit_card»\nIBAN: «iban»\nOrder: «!order_no»\n"),  # noqa: E501
    _t("e2_ai_terraform_vars", "eval", "why does terraform say the provider is unauthorized?\n\nvariable \"github_token\" {\n  default = \"«github_token»\"\n}\nvariable \"gitlab_token\" {\n  default = \"«gitlab_token»\"\n}\n"),  # noqa: E501
    _t("e2_ssh_config_chat", "eval", "my ~/.ssh/config has Host «@host» with User «@user», and ssh «@user»@«!hostname» just hangs. key is below\n«private_key»\n"),  # noqa: E501
    _t("e2_jira_jwt_aws", "eval", "Reproduced with token «jwt» against «!url».\nAWS creds used by the job: «aws_access_key» «aws_secret_key»\nFixed in «!version»."),  # noqa: E501
    _t("e2_docker_login_named", "eval", "docker login -u «@user» ghcr.io\n«password»\ndocker push ghcr.io/acme/«@project»:«!version»\n"),  # noqa: E501
    _t("e2_env_azure_gcp_stripe", "eval", "export AZURE_STORAGE_CONNECTION_STRING='«azure_connection_string»'\nexport GOOGLE_API_KEY=«gcp_api_key»\nexport STRIPE_API_KEY=«stripe_key»\nexport ANTHROPIC_API_KEY=«anthropic_api_key»\n"),  # noqa: E501
    _t("e2_yaml_secrets", "eval", "atlassian:\n  email: «email»\n  api_token: «atlassian_token»\nazure:\n  client_secret: «azure_client_secret»\n  account_key: «azure_storage_key»\n"),  # noqa: E501
    _t("e2_gcp_sa_python", "eval", "info = {\n    'type': 'service_account',\n    \"private_key_id\": \"«gcp_service_account_key:key_id»\",\n    \"private_key\": \"«gcp_service_account_key:pem»\",\n}\n"),  # noqa: E501
    # Third evaluation batch, written after the fix for decorated prompts and run once, as is.
    _t("e3_slack_thread", "eval", "«@first» 10:42 AM\nhmm the staging key expired again\n«@first» 10:43 AM\nnew one: «generic_token:standalone»\n«@first» 10:44 AM\nthx! also my number changed, it's «phone:us» now\n"),  # noqa: E501
    _t("e3_mysql_session", "eval", "$ mysql -h «!hostname» -u analytics -p reports\n«password»\nmysql> select count(*) from orders where created_at > '«!date»';\n"),  # noqa: E501
    _t("e3_su_root_ocr", "eval", "«@user»@«@host»:~$ su -\nPassword:\nroot@«@host»:~# apt list --upgradable\n"),
    _t("e3_passwd_keys", "eval", "sudo passwd «@user»\n«password»\n«password»\n«password:again»\nexit\n"),
    _t("e3_env_dump_ai", "eval", "can you tell me which of these env vars my app actually needs?\nHOME=/home/app\nLANG=en_US.UTF-8\nDATABASE_PASSWORD=«password»\nSENDGRID_API_KEY=«generic_token»\nGH_TOKEN=«github_token»\nAWS_ACCESS_KEY_ID=«aws_access_key»\nAWS_SECRET_ACCESS_KEY=«aws_secret_key»\n"),  # noqa: E501
    _t("e3_invoice_email", "eval", "From: «email»\nTo: «email»\nSubject: Invoice «!order_no»\n\nAmount due: «!price» by «!date». Pay by card or transfer to «iban». Card on file: «credit_card».\n"),  # noqa: E501
    _t("e3_hr_chat", "eval", "«@first», the payroll system rejected SSN «us_ssn» for «@name», can you double check? their phone is «phone:national»"),  # noqa: E501
    _t("e3_js_config", "eval", "export const config = {\n  stripeKey: \"«stripe_key»\",\n  slackToken: '«slack_token»',\n  sentryDsn: \"https://«!short_sha»@o«@int».ingest.sentry.io/«@int»\",\n  buildId: \"«!uuid»\",\n};\n"),  # noqa: E501
]
# fmt: on

NEGATIVES.update(redact_everyday.NEGATIVES)
_DEV += [_t(name, split, body) for name, split, body in redact_everyday.TEMPLATES if split == "dev"]
_EVAL += [_t(name, split, body) for name, split, body in redact_everyday.TEMPLATES if split == "eval"]
TEMPLATES: list[Template] = _DEV + _EVAL
DEFAULT_SOURCES = Sources(VALUES, NEGATIVES, _filler, _with_context)
