"""Held-out corpus for the secret/PII detector: its own generators and its own templates.

``redact_corpus.py`` holds the development and evaluation splits, whose generators the detector
was tuned against. This module is the ``holdout`` split: nothing in it is shared with them.
Values come from Faker (``faker==40.63.0``, pinned; it ships its data, nothing is downloaded)
in many locales — names, user names, e-mail addresses, addresses and, above all, phone numbers,
whose formats are deliberately *not* all valid numbering-plan numbers — plus generators written
here for everyday phone formats, credentials written in prose, form logins typed with Tab and
Return, and vendor keys drawn afresh. Look-alike negatives (order numbers, ticket ids,
timestamps, versions, SHAs, UUIDs, prices, dates, ZIP and post codes, ISBNs, EANs, IP and MAC
addresses, line numbers, coordinates, tax ids…) come from Faker where it has them.

Typed text follows what the device's typed-text guard hands the detector: Return is ``\\n``, Tab
is ``\\t``, a click that moved the caret between fields of one window is ``\\x1f``, and text
redacted earlier shows as a run of ``█``.

Discipline and history, for honesty about what "held out" means here:

* 2026-12-05: this module (generators, templates, context pools) was written in one sitting,
  before the detector work on everyday phones, prose credentials, form logins and ``partial()``
  began, and committed before any of it was run. While developing, only ``redact_corpus.check``
  (labels match the text) and the per-kind planted counts were looked at — never a finding, a
  miss, a false alarm or a generated value.
* Tuning used the development split of ``redact_corpus.py``, extended with its own generators
  for the same classes (written separately, after this module).
* Run 1 (first batch ``h_*`` only, detector at commit 13232fd), 4,000 documents: every vendor
  kind, e-mail, IBAN and SSN at 100%; below target: ``azure_storage_key`` recall 0.50 (an 88-char
  key after a bare ``key``), ``generic_token`` precision 0.80 (pieces of those keys), ``password``
  recall 0.929 / precision 0.932 (values starting with ``$``/``(`` taken for templates or calls,
  ``user X pass Y`` taken for the ``pass`` command, ``Last login: <time>`` read as a login pair),
  ``phone`` recall 0.963 / precision 0.800 (cue words such as "callback"/"reception"/"work",
  "tracking number is …", ``SO-0494-68749``, a date-shaped ``+84-23-794566``), ``credit_card``
  recall 0.835 (JCB 15 and 35xx, 4-4-4-2 grouping, 12/13 digits typed as a form field).
  Each was fixed by a general rule (see the commit after it). From here on the first batch has
  been looked at and tuned against.
* The second batch (``h2_*``) was written after those fixes and before it was ever run. Its
  first run (``bench/redact.py --split holdout --batch h2``, detector at commit 82405d7, 4,000
  documents) is the untouched estimate: recall 0.965 / precision 0.999 overall; below target
  ``password`` recall 0.907 (``pw - …``: a dash as the separator), ``phone`` recall 0.974 /
  precision 0.998 (bare numbers typed alone or in parentheses with no phone word; an EAN under
  a column headed by a phone word), ``generic_token`` recall 0.994; it also exposed a crash on a
  one-digit first group (``0 2345 6789``). Those were fixed by general rules too, so both
  batches have now been looked at: write ``h3_*`` before running it once for a fresh estimate.
* Faker's dates ran up to "now" until its end was pinned (``_END``), so a seed gave a slightly
  different corpus from one run to the next; only look-alike dates and times changed.
* Faker's Italian city names came in the interpreter's hash order until they were sorted
  (``_faker``), so a seed still gave a different corpus in each process (about 100 of 4,000
  documents, typed ones mostly): holdout figures measured before that moved by a few planted
  values from one run to the next.
"""

from __future__ import annotations

import datetime
import random
import string
from collections.abc import Callable
from functools import cache

import redact_corpus
from faker import Faker
from redact_corpus import Corpus, Sources, Template, wrap_in_context

# Locales whose phone formats, names and addresses the split draws from: every continent, Latin
# and non-Latin scripts (names only; numbers and addresses stay in ASCII digits).
PHONE_LOCALES = (
    "en_US", "en_CA", "en_GB", "en_IE", "en_AU", "en_NZ", "en_IN", "de_DE", "de_AT",
    "de_CH", "fr_FR", "fr_CH", "it_IT", "es_ES", "es_MX", "es_AR", "es_CO", "pt_BR", "pt_PT",
    "nl_NL", "nl_BE", "sv_SE", "no_NO", "da_DK", "fi_FI", "pl_PL", "cs_CZ", "sk_SK", "hu_HU",
    "ro_RO", "el_GR", "tr_TR", "ru_RU", "uk_UA", "he_IL", "ja_JP", "ko_KR", "zh_CN", "zh_TW",
    "id_ID", "vi_VN", "th_TH",
)  # fmt: skip
NAME_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL", "pt_BR", "sv_SE", "en_IN")
ALNUM = string.ascii_letters + string.digits


@cache
def _faker(locale: str) -> Faker:
    fk = Faker(locale)
    # it_IT's city list is built from a set, so its order (and the city a seed picks) followed
    # the interpreter's hash seed: the same seed gave a different corpus in every process.
    for provider in fk.providers:
        cities = getattr(provider, "cities", None)
        if isinstance(cities, list):
            provider.cities = sorted(cities)
    return fk


def reseed(seed: int) -> None:
    """Put every Faker instance in a state fixed by ``seed`` (same seed, same corpus)."""
    for i, locale in enumerate(sorted(set(PHONE_LOCALES) | set(NAME_LOCALES))):
        _faker(locale).seed_instance(seed * 1009 + i)


def _fk(rng: random.Random, pool: tuple[str, ...] = NAME_LOCALES) -> Faker:
    return _faker(rng.choice(pool))


def _r(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _digits(rng: random.Random, shape: str) -> str:
    """``#`` any digit, ``N`` 2-9, ``Z`` 1-9; everything else is kept."""
    out = []
    for ch in shape:
        if ch == "#":
            out.append(rng.choice(string.digits))
        elif ch == "N":
            out.append(rng.choice("23456789"))
        elif ch == "Z":
            out.append(rng.choice("123456789"))
        else:
            out.append(ch)
    return "".join(out)


# Everyday ways of writing phone numbers; the digits are random, so most are not valid in any
# numbering plan — people mistype, invent and abbreviate, and the detector must not care.
_EVERYDAY_PHONES = (
    "(N##) N##-####", "N##-N##-####", "N##.N##.####", "N## N## ####", "1-N##-N##-####",
    "+1 N##-N##-####", "+1 (N##) N##-####", "(###) ###-####", "###-###-####", "N##-####",
    "+44 20 #### ####", "020 #### ####", "07### ######", "+44 7### ######", "01### ######",
    "0171 ### ####", "(01###) ######", "+44 (0)20 #### ####",
    "+49 30 ########", "030 ########", "030/#######", "0171 #######", "+49 (0)30 #######",
    "0049 30 #######", "+49 171 #######",
    "01 ## ## ## ##", "06 ## ## ## ##", "+33 1 ## ## ## ##", "+33 6 ## ## ## ##", "06.##.##.##.##",
    "06-########", "020-#######", "+31 6 ########",
    "04## ### ###", "(02) #### ####", "+61 4## ### ###", "+61 2 #### ####",
    "+91 9#### #####", "09#### #####", "+91-9#########",
    "+34 6## ### ###", "+39 3## ### ####", "06 #### ####", "(11) 9####-####", "+55 11 9####-####",
    "090-####-####", "03-####-####", "+81 90-####-####", "+86 138 #### ####",
)  # fmt: skip
_EXTENSIONS = (" ext. ##", " x###", " ext ####", " (ext. ##)", " x#", ", ext. ###")


def _phone(rng: random.Random, variant: str) -> str:
    if variant == "faker" or (not variant and rng.random() < 0.55):
        return str(_fk(rng, PHONE_LOCALES).phone_number()).strip()
    number = _digits(rng, rng.choice(_EVERYDAY_PHONES))
    if variant != "plain" and rng.random() < 0.15:
        number += _digits(rng, rng.choice(_EXTENSIONS))
    return number


def _email(rng: random.Random, variant: str) -> str:
    fk = _fk(rng)
    style = rng.randrange(5)
    if style == 0:
        return str(fk.free_email())
    if style == 1:
        return str(fk.company_email())
    if style == 2:
        return str(fk.ascii_email())
    if style == 3:
        return f"{fk.user_name()}@{fk.domain_name()}"
    return str(_faker("en_US").email())


_HUMAN_WORDS = ("Falcon", "orange", "Tiger", "maple", "Rocket", "summer", "Bluebird", "coffee", "Panda", "river")


def _password(rng: random.Random, variant: str) -> str:
    if variant == "pin":
        return _digits(rng, "Z" + "#" * rng.randint(3, 7))
    fk = _fk(rng)
    style = rng.randrange(8)
    if style <= 3:
        return str(fk.password(length=rng.randint(8, 18), special_chars=rng.random() < 0.7))
    if style == 4:
        return rng.choice(_HUMAN_WORDS) + str(rng.randint(1, 9999)) + rng.choice(("", "!", "#", "?", "$"))
    if style == 5:
        return rng.choice(_HUMAN_WORDS).capitalize() + "_" + str(rng.randint(1990, 2030)) + rng.choice("!@.")
    if style == 6:
        return _r(rng, ALNUM + "!#$%&*+-=?@^_", rng.randint(12, 24))
    return "-".join(str(fk.word()) for _ in range(3)) + str(rng.randint(0, 99))


def _luhn(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + _r(rng, string.digits, length - len(prefix) - 1)
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


def _card(rng: random.Random, variant: str) -> str:
    number = str(_faker("en_US").credit_card_number()) if rng.random() < 0.6 else _luhn("4", 16, rng)
    if variant == "plain" or rng.random() < 0.3:
        return number
    sep = rng.choice((" ", "-"))
    if len(number) == 15:
        return sep.join((number[:4], number[4:10], number[10:]))
    return sep.join(number[i : i + 4] for i in range(0, len(number), 4))


def _iban(rng: random.Random, variant: str) -> str:
    value = str(_fk(rng, ("de_DE", "en_GB", "fr_FR", "nl_NL", "es_ES", "it_IT", "pl_PL", "pt_PT")).iban())
    if variant == "compact" or rng.random() < 0.4:
        return value
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4))


def _ssn(rng: random.Random, variant: str) -> str:
    value = str(_faker("en_US").ssn())
    return value.replace("-", "") if variant == "bare" else value


def _b64(rng: random.Random, n: int) -> str:
    return _r(rng, ALNUM + "+/", n)


def _jwt(rng: random.Random) -> str:
    import base64
    import json

    def part(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    head = part({"typ": "JWT", "alg": rng.choice(("RS256", "HS512", "ES384"))})
    body = part({"email": _email(rng, ""), "exp": rng.randint(1_700_000_000, 1_900_000_000), "scope": "read"})
    return f"{head}.{body}.{_r(rng, ALNUM + '-_', rng.choice((43, 86)))}"


def _pem(rng: random.Random, variant: str) -> str:
    label = rng.choice(("RSA PRIVATE KEY", "PRIVATE KEY", "OPENSSH PRIVATE KEY", "EC PRIVATE KEY"))
    body = "\n".join(_b64(rng, 64) for _ in range(rng.randint(3, 9)))
    if variant == "json":
        return f"-----BEGIN PRIVATE KEY-----\\n{body.replace(chr(10), chr(92) + 'n')}\\n-----END PRIVATE KEY-----\\n"
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----"


def _generic(rng: random.Random, variant: str) -> str:
    if variant == "hex":
        return str(_faker("en_US").sha1())[: rng.choice((32, 40))]
    while True:
        v = _r(rng, ALNUM, rng.randint(32, 44))
        if any(c.isdigit() for c in v) and any(c.isupper() for c in v) and any(c.islower() for c in v):
            return v


UPPER_DIGITS = string.ascii_uppercase + string.digits
# Faker's dates and times run up to "now" unless told otherwise: a fixed end keeps a seed's corpus
# the same from one day (and one second) to the next.
_END = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
# fmt: off
VALUES: dict[str, Callable[[random.Random, str], str]] = {
    "private_key": _pem,
    "gcp_service_account_key": lambda rng, v: str(_faker("en_US").sha1()) if v == "key_id" else _pem(rng, "json"),
    "azure_connection_string": lambda rng, v: f"DefaultEndpointsProtocol=https;AccountName={_faker('en_US').user_name().replace('_', '')[:20]};AccountKey={_b64(rng, 86)}==;EndpointSuffix=core.windows.net",  # noqa: E501
    "azure_storage_key": lambda rng, v: _b64(rng, 86) + "==",
    "azure_client_secret": lambda rng, v: _r(rng, ALNUM, 3) + str(rng.randint(0, 9)) + "Q~" + _r(rng, ALNUM + "_-.", 34),  # noqa: E501
    "aws_access_key": lambda rng, v: rng.choice(("AKIA", "ASIA")) + _r(rng, UPPER_DIGITS, 16),
    "aws_secret_key": lambda rng, v: _b64(rng, 40),
    "gcp_api_key": lambda rng, v: "AIza" + _r(rng, ALNUM + "-_", 35),
    "github_token": lambda rng, v: rng.choice(("ghp_", "gho_", "ghs_")) + _r(rng, ALNUM, 36),
    "gitlab_token": lambda rng, v: "glpat-" + _r(rng, ALNUM + "-_", 20),
    "slack_token": lambda rng, v: f"xoxp-{_r(rng, string.digits, 11)}-{_r(rng, string.digits, 12)}-{_r(rng, string.digits, 13)}-{_r(rng, 'abcdef0123456789', 32)}",  # noqa: E501
    "slack_webhook": lambda rng, v: f"https://hooks.slack.com/services/T{_r(rng, UPPER_DIGITS, 10)}/B{_r(rng, UPPER_DIGITS, 10)}/{_r(rng, ALNUM, 24)}",  # noqa: E501
    "atlassian_token": lambda rng, v: "ATATT3xFfGF0" + _r(rng, ALNUM + "-_", 180) + "=" + _r(rng, "0123456789ABCDEF", 8),  # noqa: E501
    "anthropic_api_key": lambda rng, v: "sk-ant-api03-" + _r(rng, ALNUM + "-_", 95),
    "openai_api_key": lambda rng, v: "sk-proj-" + _r(rng, ALNUM + "-_", 156),
    "stripe_key": lambda rng, v: rng.choice(("sk_live_", "rk_live_", "sk_test_")) + _r(rng, ALNUM, 99),
    "jwt": lambda rng, v: _jwt(rng),
    "generic_token": _generic,
    "password": _password,
    "email": _email,
    "phone": _phone,
    "credit_card": _card,
    "iban": _iban,
    "us_ssn": _ssn,
}

_US = "en_US"
NEGATIVES: dict[str, Callable[[random.Random], str]] = {
    "sha1": lambda rng: str(_faker(_US).sha1()),
    "short_sha": lambda rng: str(_faker(_US).sha1())[: rng.choice((7, 9, 12))],
    "sha256": lambda rng: str(_faker(_US).sha256()),
    "md5": lambda rng: str(_faker(_US).md5()),
    "uuid": lambda rng: str(_faker(_US).uuid4()),
    "isbn13": lambda rng: str(_faker(_US).isbn13()),
    "isbn10": lambda rng: str(_faker(_US).isbn10()),
    "ean13": lambda rng: str(_faker(_US).ean13()),
    "ipv4": lambda rng: str(_faker(_US).ipv4()),
    "ipv6": lambda rng: str(_faker(_US).ipv6()),
    "mac": lambda rng: str(_faker(_US).mac_address()),
    "latlng": lambda rng: f"{_faker(_US).latitude()}, {_faker(_US).longitude()}",
    "date": lambda rng: str(_fk(rng).date(pattern=rng.choice(("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y%m%d", "%b %d, %Y")), end_datetime=_END)),  # noqa: E501
    "datetime": lambda rng: str(_faker(_US).iso8601(end_datetime=_END)) if rng.random() < 0.5 else _faker(_US).date_time(end_datetime=_END).strftime("%Y-%m-%d %H:%M:%S,%f")[:23],  # noqa: E501
    "time": lambda rng: str(_faker(_US).time(pattern=rng.choice(("%H:%M", "%H:%M:%S", "%I:%M %p")), end_datetime=_END)),
    "unix_time": lambda rng: str(int(_faker(_US).unix_time(end_datetime=_END))),
    "unix_ms": lambda rng: str(int(_faker(_US).unix_time(end_datetime=_END)) * 1000 + rng.randint(0, 999)),
    "price": lambda rng: str(_fk(rng).pricetag()),
    "amount": lambda rng: rng.choice((f"{rng.randint(1, 999)} {rng.randint(100, 999)},{rng.randint(10, 99)} €", f"${rng.randint(1, 99)},{rng.randint(100, 999)}.{rng.randint(10, 99)}", f"{rng.randint(1000, 99999)} USD")),  # noqa: E501
    "postcode": lambda rng: str(_fk(rng, ("en_US", "en_GB", "de_DE", "nl_NL", "fr_FR", "en_CA", "pl_PL", "pt_BR", "ja_JP")).postcode()),  # noqa: E501
    "zip4": lambda rng: _digits(rng, "#####-####"),
    "version": lambda rng: rng.choice((f"{rng.randint(0, 30)}.{rng.randint(0, 40)}.{rng.randint(0, 200)}", f"10.0.{rng.randint(10000, 26000)}.{rng.randint(100, 9999)}", f"v{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}-rc{rng.randint(1, 5)}", f"{rng.randint(2019, 2026)}.{rng.randint(1, 12)}.{rng.randint(1, 30)}")),  # noqa: E501
    "build": lambda rng: f"{rng.randint(2023, 2026)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}.{rng.randint(1, 99)}",  # noqa: E501
    "order": lambda rng: rng.choice((_digits(rng, "###-#######-#######"), "PO-" + _digits(rng, "######"), "#" + _digits(rng, "########"), _digits(rng, "SO-####-#####"))),  # noqa: E501
    "ticket": lambda rng: rng.choice(("INC", "CS-", "SUP-", "BUG-", "REQ")) + _digits(rng, "Z" + "#" * rng.randint(3, 7)),  # noqa: E501
    "tracking": lambda rng: rng.choice(("1Z" + _r(rng, UPPER_DIGITS, 16), _digits(rng, "############"), _digits(rng, "9400 #### #### #### #### ##"))),  # noqa: E501
    "line": lambda rng: rng.choice((f"line {rng.randint(1, 9999)}", f"L{rng.randint(1, 999)}-L{rng.randint(1000, 1999)}", f"{rng.randint(1, 999)}:{rng.randint(1, 120)}")),  # noqa: E501
    "port": lambda rng: str(_faker(_US).port_number()),
    "ein": lambda rng: str(_faker(_US).ein()),
    "aba": lambda rng: str(_faker(_US).aba()),
    "plate": lambda rng: str(_fk(rng).license_plate()),
    "duration": lambda rng: f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}",  # noqa: E501
    "percent": lambda rng: f"{rng.randint(0, 100)}.{rng.randint(0, 99)}%",
    "bad_card": lambda rng: (lambda n: n[:-1] + str((int(n[-1]) + 3) % 10))(_luhn("5", 16, rng)),
    "hostname": lambda rng: str(_faker(_US).hostname()),
    "url": lambda rng: str(_faker(_US).url()) + _faker(_US).slug(),
    "path": lambda rng: str(_faker(_US).file_path(depth=rng.randint(1, 4))),
    "user_agent": lambda rng: str(_faker(_US).user_agent()),
    "masked": lambda rng: rng.choice(("••••••••", "********", "●●●●●●●●●●", "xxxxxxxx")),
}
# fmt: on


def _filler(rng: random.Random, name: str) -> str:
    fk = _fk(rng)
    table: dict[str, Callable[[], str]] = {
        "name": lambda: str(fk.name()),
        "first": lambda: str(fk.first_name()),
        "user": lambda: str(fk.user_name()),
        "company": lambda: str(fk.company()),
        "city": lambda: str(fk.city()),
        "address": lambda: str(fk.address()).replace("\n", ", "),
        "street": lambda: str(fk.street_address()),
        "domain": lambda: str(_faker(_US).domain_name()),
        "word": lambda: str(_faker(_US).word()),
        "job": lambda: str(_faker(_US).job()),
        "sentence": lambda: str(_faker(_US).sentence(nb_words=rng.randint(4, 12))),
        "int": lambda: str(rng.randint(2, 300)),
        "blocks": lambda: "█" * rng.randint(10, 28),
        "host": lambda: f"{_faker(_US).word()}-{rng.randint(1, 9)}",
    }
    return table[name]()


# Ordinary text around each document, written for this split (no phrasing shared with the
# development pools). Look-alikes only, never a planted value.
# fmt: off
_POOLS: dict[str, tuple[str, ...]] = {
    "chat": (
        "morning all", "brb, coffee", "anyone seen the deploy logs from «!date»?", "ok, merging after lunch",
        "the retro is at «!time», same room", "thanks, that fixed it", "I'll pick this up tomorrow",
        "ping me if the build breaks again", "invoice «!order» went out «!date»", "who has the projector remote?",
        "my flight lands «!time», will join late", "«@first» is covering support this week",
        "lol", "sounds right to me", "can we keep the password policy discussion in «!ticket»?",
        "the access key rotation doc is linked in the wiki", "new laptop arrived, setting it up now",
        "tracking number is «!tracking» if anyone needs it", "team lunch budget is «!price» per person",
        "reading the PIN reset flow spec now", "it's at «!latlng», the parking lot behind the office",
        "bumped the chart to «!version»", "the token bucket limit is «@int» per minute",
        "«@sentence»", "«@sentence»", "«@sentence»",
    ),
    "ticket": (
        "Summary: checkout page times out", "Severity: 3 - minor", "Reporter: «@name»", "Component: billing",
        "Affects: «!version» (build «!build»)", "Steps: log in, open the cart, press pay", "Ref: «!ticket»",
        "Expected: a receipt e-mail", "Actual: HTTP 504 after 30 s", "Customer order «!order», «!amount»",
        "Logged «!datetime» from «!ipv4»", "See «!url»", "Stack trace at «!path» «!line»",
        "Resolution: duplicate of «!ticket»", "Shipping label «!tracking»", "Customer ZIP «!postcode»",
        "Book ISBN «!isbn13» was listed twice", "Barcode «!ean13» scans as the wrong product",
        "Vendor EIN «!ein», routing «!aba»", "Warehouse at «!latlng»", "Time spent: «!duration»",
        "Users are asked to reset their password after 90 days; see «!ticket».",
        "«@sentence»", "«@sentence»",
    ),
    "terminal": (
        "git fetch --all", "git rebase -i HEAD~«@int»", "ls -lh «!path»", "make build", "cd ~/work",
        "docker images", "kubectl describe pod «@host»", "python3 -m venv .venv", "source .venv/bin/activate",
        "npm ci", "go test ./...", "tail -n 100 app.log", "ping -c 3 «!ipv4»", "curl -I «!url»",
        "ssh-keygen -lf ~/.ssh/id_ed25519.pub", "git show «!short_sha»", "git tag «!version»", "df -h /",
        "ip addr show | grep «!mac»", "history | tail", "sort -k2 -n data.tsv | head", "cal «!date»",
    ),
    "code": (
        "def total(items):", "    return sum(i.price for i in items)", "class Cart:", "    pass",
        "if __name__ == \"__main__\":", "    main()", "import os, sys", "from typing import Any",
        "const MAX_RETRIES = 5;", "let offset = page * pageSize;", "func main() {", "}",
        "# see «!url»", "// fixed in «!short_sha»", "assert version == \"«!version»\"",
        "ORDER_ID = \"«!order»\"", "LAT, LNG = «!latlng»", "cache_key = f\"session:{user.id}\"",
        "password_field = form.fields[\"password\"]", "token_count = len(tokens)", "self.key = key",
        "sorted(rows, key=lambda r: r[1])", "CHECKSUM = \"«!md5»\"", "REQUEST_ID = \"«!uuid»\"",
    ),
    "config": (
        "[database]", "pool_size = 10", "timeout = 30", "log_level: debug", "replicas: 2",
        "image: registry.local/app:«!version»", "commit_sha: «!sha1»", "listen: «!ipv4»:«!port»",
        "hostname: «!hostname»", "max_body_size: 10m", "password_min_length: 12", "token_ttl: 3600",
        "key_rotation_days: 90", "secret_ref: vault/app/db", "region_code: «!postcode»",
        "build_id: «!build»", "digest: «!sha256»",
    ),
    "email": (
        "Hi all,", "Hello,", "Kind regards,", "Cheers,", "Thanks in advance.", "See you on Monday.",
        "Please find the minutes attached.", "The offsite is booked for «!date».",
        "Our office is at «@address».", "Your order «!order» ships «!date».", "Total due: «!amount».",
        "Please do not reply to this automated message.", "For security reasons, never share your password.",
        "«@sentence»", "«@sentence»",
    ),
    "logs": (
        "«!datetime» INFO request completed in «@int» ms", "«!datetime» WARN disk usage «!percent»",
        "«!datetime» DEBUG session key refreshed", "«!datetime» INFO client «!ipv4» connected",
        "«!datetime» ERROR upstream «!hostname» timed out", "«!unix_time» ok", "«!unix_ms» heartbeat",
        "«!datetime» INFO user agent: «!user_agent»", "«!datetime» INFO password changed for user id «@int»",
        "«!datetime» INFO trace=«!uuid» span=«!short_sha»",
    ),
    "ocr": (
        "File  Edit  View  Window  Help", "Search", "Settings", "Notifications (3)", "Sign out",
        "Last login: «!datetime»", "Q «!date» · «!time»", "Page 2 of 7", "Zoom 100%", "Saved",
        "Address  «@address»", "Order  «!order»", "Remember me", "Forgot password?", "Status: Active",
    ),
    "typed": (
        "«!url»", "weather «@city»", "how to «@word» in python", "«@sentence»", "«@company» careers",
        "«!ticket»", "flights to «@city» «!date»", "«@word» «@word» meaning",
    ),
}
# fmt: on


def _category(template: Template) -> str:
    return template.name.split("_", 2)[1]


def _context(template: Template, rng: random.Random) -> str:
    return wrap_in_context(template, rng, _POOLS[_category(template)])


SOURCES = Sources(VALUES, NEGATIVES, _filler, _context)


def _t(name: str, body: str) -> Template:
    assert name.split("_", 2)[1] in _POOLS, name
    return Template(name, "holdout", body)


# Holdout templates: h_<context pool>_<what>. Written before running; never edited for results.
# fmt: off
TEMPLATES = [
    # typed chat
    _t("h_chat_wifi", "guest wifi is «@word»-guest and the wifi password is «password»"),
    _t("h_chat_pw_for", "pw for staging: «password» (don't share outside the team)"),
    _t("h_chat_login_slash", "login «@user» / «password» for the demo box"),
    _t("h_chat_pin", "my PIN is «password:pin», can you pick up the parcel for me?"),
    _t("h_chat_creds_pair", "creds for the test tenant: «@user» / «password»"),
    _t("h_chat_user_pass_words", "user «@user» pass «password» — change it after first login"),
    _t("h_chat_key_colon", "key: «generic_token»"),
    _t("h_chat_password_for_is", "the password for the router is «password» btw"),
    _t("h_chat_call_me", "call me at «phone» when you land"),
    _t("h_chat_cell", "my cell is «phone», text anytime after «!time»"),
    _t("h_chat_reach", "you can reach «@first» on «phone» or «email»"),
    _t("h_chat_whatsapp", "whatsapp: «phone:faker»"),
    _t("h_chat_new_number", "new number: «phone» (old one «!order» was the order ref, ignore)"),
    _t("h_chat_card", "use my card «credit_card» exp 11/28 for the team lunch «!price»"),
    _t("h_chat_passcode", "the passcode for the conference bridge is «password:pin»#"),
    _t("h_chat_email_plain", "send it to «email» please, not to my old address"),
    _t("h_chat_token_paste", "here you go «generic_token» — valid until «!date»"),
    _t("h_chat_aws_pair", "aws creds for the sandbox: «aws_access_key» «aws_secret_key»"),
    _t("h_chat_question_answer", "what's the pw for the shared mailbox?\n«password»\nthx"),
    # tickets
    _t("h_ticket_contact", "Contact: «@name»\nPhone: «phone»\nEmail: «email»\nAddress: «@address»\nOrder: «!order»"),
    _t("h_ticket_refund", "Refund «!amount» to IBAN «iban» for order «!order» (ticket «!ticket»)"),
    _t("h_ticket_ssn", "Employee «@name» (SSN «us_ssn») cannot log in since «!date»"),
    _t("h_ticket_callback", "Customer asked for a callback on «phone» between «!time» and «!time»."),
    _t("h_ticket_creds", "Test account for QA — username: «@user», password: «password»"),
    _t("h_ticket_negatives", "ISBN «!isbn10» / «!isbn13», EAN «!ean13», tracking «!tracking», EIN «!ein», ZIP «!zip4»"),
    _t("h_ticket_payment", "Card ending in «@int» failed; full number given by phone: «credit_card»"),
    _t("h_ticket_jwt", "Token from the failing request: «jwt»\nTrace «!uuid» at «!datetime»"),
    # logs pasted into chat or tickets
    _t("h_logs_auth_header", "«!datetime» DEBUG auth header: Bearer «generic_token»\n«!datetime» INFO login ok for «email» from «!ipv4»"),  # noqa: E501
    _t("h_logs_card", "«!datetime» WARN payment declined card=«credit_card:plain» amount=«!amount» order=«!order»"),
    # AI prompts
    _t("h_chat_ai_env", "why does my app crash on start? .env:\nDB_PASS=«password»\nOPENAI_API_KEY=«openai_api_key»\nSTRIPE_KEY=«stripe_key»\nSLACK_TOKEN=«slack_token»\n"),  # noqa: E501
    _t("h_chat_ai_letter", "rewrite this politely: Dear «@name», your new phone number «phone» and your PIN «password:pin» are attached."),  # noqa: E501
    _t("h_chat_ai_sql", "fix my query: SELECT * FROM users WHERE email = '«email»' AND phone = '«phone»';"),
    _t("h_code_ai_python", "```python\nclient = Client(api_key=\"«anthropic_api_key»\")\nhook = \"«slack_webhook»\"\n```\nwhy is this 401?"),  # noqa: E501
    # shell commands (typed)
    _t("h_terminal_sudo", "sudo apt-get install -y «@word»\n«password»\n"),
    _t("h_terminal_ssh", "ssh «@user»@«!ipv4»\n«password»\nls\n"),
    _t("h_terminal_curl_token", "curl -H \"Authorization: token «github_token»\" https://api.github.com/user"),
    _t("h_terminal_export", "export GITLAB_TOKEN=«gitlab_token»\nexport GOOGLE_API_KEY=«gcp_api_key»\n"),
    _t("h_terminal_mysql_inline", "mysql -h «!hostname» -u admin -p«password» shop"),
    _t("h_terminal_negatives", "git log --since=«!date»\ngit show «!sha1»\nkill -9 «@int»\nsleep «@int»\n"),
    # code
    _t("h_code_config_py", "SETTINGS = {\n    \"db_password\": \"«password»\",\n    \"jira_token\": \"«atlassian_token»\",\n    \"aws_key\": \"«aws_access_key»\",\n}\n"),  # noqa: E501
    _t("h_code_js_fetch", "fetch(url, { headers: { Authorization: `Bearer ${\"«generic_token»\"}` } })\nconst ORDER = \"«!order»\";\n"),  # noqa: E501
    _t("h_code_tests_phone", "def test_format():\n    assert fmt(\"«phone:plain»\") == \"ok\"\n    assert parse(\"«!isbn13»\") is None\n"),  # noqa: E501
    _t("h_code_go_struct", "type User struct {\n\tID\tint\n\tName\tstring\n\tEmail\tstring\n}\nvar id = «!unix_time»\n"),  # noqa: E501
    _t("h_code_pem", "KEY = \"\"\"\n«private_key»\n\"\"\"\n"),
    _t("h_config_sa", "{\"type\": \"service_account\", \"private_key_id\": \"«gcp_service_account_key:key_id»\", \"private_key\": \"«gcp_service_account_key:json»\", \"client_email\": \"«email»\"}"),  # noqa: E501
    _t("h_config_azure", "storage:\n  connection: \"«azure_connection_string»\"\n  account_key: «azure_storage_key»\nauth:\n  azure_client_secret: «azure_client_secret»\n"),  # noqa: E501
    _t("h_config_yaml_creds", "smtp:\n  host: «!hostname»\n  user: «email»\n  password: «password»\n  port: «!port»\n"),
    _t("h_config_tsv", "name\tcity\tzip\n«@first»\t«@city»\t«!postcode»\n«@first»\t«@city»\t«!postcode»\n"),
    # e-mails
    _t("h_email_signature", "Best,\n«@name»\n«@job», «@company»\nM «phone»\n«email»"),
    _t("h_email_signature_nocue", "«@name» | «@company» | «phone» | «email»"),
    _t("h_email_bank", "Please transfer the deposit of «!amount» to «iban» by «!date». Ref: «!order»."),
    _t("h_email_wifi", "Welcome to the office! Network: «@word»-staff, Wi-Fi password: «password». Reception: «phone»."),  # noqa: E501
    _t("h_email_hr", "Hi «@first», we still need your social security number («us_ssn:bare» is what HR has, please confirm) and a phone number («phone»)."),  # noqa: E501
    _t("h_email_login_sentence", "You can log in with «@user» / «password» until IT sets up SSO."),
    # OCR'd screens
    _t("h_ocr_contact_card", "«@name»\nmobile  «phone»\nwork  «phone»\nemail  «email»\n«@address»"),
    _t("h_ocr_wifi_settings", "Wi-Fi\nNetwork  «@word»\nSecurity  WPA2\nPassword  «password»\nShow password"),
    _t("h_ocr_login_masked", "Sign in\nEmail  «email»\nPassword  «!masked»\nForgot password?"),
    _t("h_ocr_invoice", "INVOICE «!order»\nDate «!date»\nBill to «@name», «@address»\nTel «phone»\nTotal «!amount»\nIBAN «iban»"),  # noqa: E501
    _t("h_ocr_terminal_keys", "$ cat ~/.aws/credentials\n[default]\naws_access_key_id = «aws_access_key»\naws_secret_access_key = «aws_secret_key»\n$ «!short_sha»"),  # noqa: E501
    _t("h_ocr_table", "Name           Phone              Ext\n«@name»   «phone:plain»     «@int»\n«@name»   «phone:plain»     «@int»"),  # noqa: E501
    # more vendor credentials, so every kind is planted often enough to measure
    _t("h_chat_leaked_env", "oops, wrong channel:\nGITHUB_TOKEN=«github_token»\nGITLAB_TOKEN=«gitlab_token»\nGOOGLE_API_KEY=«gcp_api_key»\nANTHROPIC_KEY=«anthropic_api_key»\nSLACK_HOOK=«slack_webhook»\nJIRA_TOKEN=«atlassian_token»\n"),  # noqa: E501
    _t("h_ticket_scanner", "Secret scanner hit in «!path» «!line»: «stripe_key», «openai_api_key», «slack_token», «jwt», «azure_client_secret»"),  # noqa: E501
    _t("h_code_azure_cs", "var conn = \"«azure_connection_string»\";\nvar key = \"«azure_storage_key»\";\n"),
    _t("h_terminal_cat_key", "cat id_rsa\n«private_key»\n"),
    _t("h_code_boto", "s3 = boto3.client(\"s3\", aws_access_key_id=\"«aws_access_key»\", aws_secret_access_key=\"«aws_secret_key»\")"),  # noqa: E501
    _t("h_email_payroll", "Payroll update for «@name»: SSN «us_ssn», new account «iban», card for expenses «credit_card»."),  # noqa: E501
    _t("h_config_sa_pretty", "{\n  \"type\": \"service_account\",\n  \"private_key_id\": \"«gcp_service_account_key:key_id»\",\n  \"private_key\": \"«gcp_service_account_key:json»\"\n}"),  # noqa: E501
    # typed form logins: Tab, Return, click separator, earlier redactions
    _t("h_typed_login_email_tab", "«email»\t«password»\n"),
    _t("h_typed_login_user_tab", "«@user»\t«password»\n"),
    _t("h_typed_login_click", "\x1f«@user»\x1f«password»\n"),
    _t("h_typed_login_redacted", "«@blocks»\t«password»\n"),
    _t("h_typed_login_pin", "«@user»\t«password:pin»\n"),
    _t("h_typed_signup", "«@first»\t«@first»\t«email»\t«password»\t«password:again»\n"),
    _t("h_typed_login_end", "\x1f«email»\x1f«password»"),
    _t("h_typed_spreadsheet", "«@first»\t«@int»\t«!price»\n«@first»\t«@int»\t«!price»\n«@first»\t«@int»\t«!price»\n"),
    _t("h_typed_phone_form", "«@name»\t«email»\t«phone»\n"),
    _t("h_typed_card_form", "«@name»\t«credit_card:plain»\t«!date»\n"),
    # Second batch (h2_*), written after the first run of this split had been looked at and the
    # detector fixed, and before this batch was ever run: new phrasings, same generators.
    _t("h2_chat_creds_multi", "staging box: host «!hostname», user «@user», password «password»"),
    _t("h2_chat_pw_dash", "prod db pw - «password»"),
    _t("h2_chat_passphrase", "the passphrase is «password», the vault is the usual one"),
    _t("h2_chat_code_pin", "garage code / PIN: «password:pin»"),
    _t("h2_ticket_login_line", "Login: «@user» Password: «password»"),
    _t("h2_email_temp_pw", "Your temporary password is «password». Please change it after logging in."),
    _t("h2_chat_phone_intro", "this is «@first», my direct line is «phone»"),
    _t("h2_chat_phone_paren", "«@first» («phone») said the parcel is ready"),
    _t("h2_ocr_profile", "Profile\nName  «@name»\nPhone  «phone»\nE-mail  «email»\nDate of birth  «!date»"),
    _t("h2_typed_dialer", "«phone»\n"),
    _t("h2_code_fixture", "CUSTOMER = {\"name\": \"«@name»\", \"phone\": \"«phone»\", \"email\": \"«email»\", \"card\": \"«credit_card»\"}"),  # noqa: E501
    _t("h2_terminal_env_inline", "DB_PASSWORD='«password»' ./run.sh --port «!port»"),
    _t("h2_terminal_psql_url", "psql postgresql://«@user»:«password»@«!hostname»/app"),
    _t("h2_chat_iban_ssn", "for the reimbursement: IBAN «iban», and HR wants my SSN «us_ssn»"),
    _t("h2_ticket_card_masked", "Card «!masked» on file; the customer read out the full number «credit_card» on the call"),  # noqa: E501
    _t("h2_typed_login_mixed", "\x1f«email»\t«password»\n"),
    _t("h2_config_ini", "[smtp]\nusername = «email»\npassword = «password»\n"),
    _t("h2_logs_curl", "«!datetime» DEBUG curl -u «@user»:«password» https://«!hostname»/api"),
    _t("h2_chat_new_key", "new api key for the sandbox: «generic_token» (old one ended «!short_sha»)"),
    _t("h2_code_vendor", "const stripe = new Stripe(\"«stripe_key»\");\nconst gh = \"«github_token»\";\nconst gl = \"«gitlab_token»\";"),  # noqa: E501
    _t("h2_chat_vendor", "slack bot token «slack_token», webhook «slack_webhook», jira «atlassian_token»"),
    _t("h2_ticket_aws", "Leaked in a build log: AWS_ACCESS_KEY_ID=«aws_access_key» AWS_SECRET_ACCESS_KEY=«aws_secret_key»"),  # noqa: E501
    _t("h2_email_order", "Order «!order» (tracking «!tracking», ISBN «!isbn13») was shipped to «@address» on «!date». Call us at «phone»."),  # noqa: E501
    _t("h2_ocr_items", "Item  Qty  Price  EAN\n«@word»  «@int»  «!price»  «!ean13»\n«@word»  «@int»  «!price»  «!ean13»"),  # noqa: E501
    _t("h2_chat_meet", "meet at «!latlng» at «!time», my mobile «phone»"),
]
# fmt: on


def build(seed: int, size: int, batch: str | None = None) -> Corpus:
    """``size`` holdout documents; the same seed gives the same corpus. ``batch`` ("h", "h2")
    keeps the templates of one batch only."""
    reseed(seed)
    chosen = [t for t in TEMPLATES if batch is None or t.name.split("_", 1)[0] == batch]
    return redact_corpus.build(chosen, seed, size, "holdout", sources=SOURCES)
