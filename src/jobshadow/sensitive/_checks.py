"""Validators that turn a regex candidate into a finding or reject it (shared: device and server).

Pure functions over short strings: checksums (Luhn, IBAN mod-97), issued-number rules (SSN),
and the shape tests that tell a random token from an identifier, a hash, a placeholder or a mask.
They run only on candidates, never over the whole text, so clarity wins over speed here.
"""

from __future__ import annotations

import re

from jobshadow.sensitive._text import word_set

# ISO 13616 registry: country code -> IBAN length.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip


def iban_valid(compact: str) -> bool:
    """``compact`` is the IBAN without spaces, upper case."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(digits) % 97 == 1


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# (first digits as an inclusive numeric range on a prefix of that many digits, allowed lengths)
_CARD_BRANDS: tuple[tuple[int, int, int, frozenset[int]], ...] = (
    # prefix length, low, high, lengths
    (1, 4, 4, frozenset({13, 16, 19})),  # Visa
    (2, 51, 55, frozenset({16})),  # Mastercard
    (4, 2221, 2720, frozenset({16})),  # Mastercard 2-series
    (2, 34, 34, frozenset({15})),  # Amex
    (2, 37, 37, frozenset({15})),  # Amex
    (4, 6011, 6011, frozenset({16, 17, 18, 19})),  # Discover
    (3, 644, 649, frozenset({16, 17, 18, 19})),  # Discover
    (2, 65, 65, frozenset({16, 17, 18, 19})),  # Discover / RuPay
    (2, 62, 62, frozenset({16, 17, 18, 19})),  # UnionPay (incl. Discover co-brand 622126-622925)
    (4, 3528, 3589, frozenset({16, 17, 18, 19})),  # JCB
    (2, 35, 35, frozenset({16, 17, 18, 19})),  # JCB's wider 35 range (test and older cards)
    (4, 2131, 2131, frozenset({15})),  # JCB, 15 digits
    (4, 1800, 1800, frozenset({15})),  # JCB, 15 digits
    (4, 3088, 3088, frozenset({16})),  # JCB (older prefixes)
    (4, 3096, 3096, frozenset({16})),
    (4, 3112, 3112, frozenset({16})),
    (4, 3158, 3158, frozenset({16})),
    (4, 3337, 3337, frozenset({16})),
    (4, 604, 604, frozenset({12, 13, 16, 17, 18, 19})),  # Maestro 0604
    (3, 300, 305, frozenset({14, 15, 16, 17, 18, 19})),  # Diners
    (2, 36, 36, frozenset({14, 15, 16, 17, 18, 19})),  # Diners
    (2, 38, 39, frozenset({14, 15, 16, 17, 18, 19})),  # Diners
    (4, 2200, 2204, frozenset({16, 17, 18, 19})),  # Mir
    (2, 50, 50, frozenset({12, 13, 16, 17, 18, 19})),  # Maestro 50xx
    (2, 56, 58, frozenset({12, 13, 16, 17, 18, 19})),  # Maestro
    (2, 60, 60, frozenset({16, 17, 18, 19})),  # RuPay / Discover-network
    (2, 63, 63, frozenset({12, 16, 17, 18, 19})),  # Maestro
    (2, 67, 67, frozenset({12, 13, 16, 17, 18, 19})),  # Maestro
)


def card_valid(digits: str) -> bool:
    n = len(digits)
    if not 12 <= n <= 19 or len(set(digits)) < 2:
        return False
    heads = (0, int(digits[0]), int(digits[:2]), int(digits[:3]), int(digits[:4]))  # by prefix length
    for plen, low, high, lengths in _CARD_BRANDS:
        if n in lengths and low <= heads[plen] <= high:
            return luhn_valid(digits)
    return False


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """SSA rules: area 000, 666 and 900-999, group 00 and serial 0000 are never issued."""
    a = int(area)
    if a == 0 or a == 666 or a >= 900 or group == "00" or serial == "0000":
        return False
    # Numbers published in advertising and widely misused; still SSN-shaped, but never real.
    return f"{area}-{group}-{serial}" not in {"078-05-1120", "219-09-9999"}


_LONG_RUN = re.compile(r"[a-z]{4,}|[A-Z]{4,}|[0-9]{4,}")


def wordiness(value: str) -> float:
    """Share of characters sitting in same-class runs of 4 or more (camelCase, SNAKE, words).

    Random base62 keeps this low (runs average under two characters); identifiers and prose
    keep it high.
    """
    if not value:
        return 1.0
    return sum(map(len, _LONG_RUN.findall(value))) / len(value)


_RUNS = re.compile(r"[a-z]+|[A-Z]+|[0-9]+")
_LETTERS = re.compile(r"[A-Za-z]+")
_VOWEL = re.compile(r"[aeiouAEIOU]")


def randomness(token: str) -> float:
    """Positive for random base62/base64url, negative for identifiers built from words.

    Three signals, each measured on 50k random tokens against 50k generated camelCase/
    snake_case identifiers (synthetic, not the benchmark corpus): class changes per character
    (random ~0.6, identifiers ~0.3), the share of vowels among letters (random ~0.19,
    identifiers ~0.39) and ``wordiness``. At ``STANDALONE_THRESHOLD`` about 0.5% of random
    32-48 character base62 tokens and 0.8% of camelCase identifiers with digits land on the
    wrong side.
    """
    if len(token) < 2:
        return -1.0
    # Each count is taken the way that allocates least (measured): findall on rare matches,
    # sub for the letter count.
    transitions = (len(_RUNS.findall(token)) - 1) / (len(token) - 1)
    letters = len(token) - len(_LETTERS.sub("", token))
    vowels = len(_VOWEL.findall(token)) / letters if letters else 0.0
    return 2 * transitions - 2 * vowels - wordiness(token)


# Recall is worth more than precision here (a missed secret leaks; an extra redaction only
# hides an identifier), so the cut sits a little on the identifier side of zero.
STANDALONE_THRESHOLD = -0.15

_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_DIGITS = frozenset("0123456789")
_ALNUM = _UPPER | _LOWER | _DIGITS


def char_classes(value: str) -> tuple[bool, bool, bool, bool]:
    """(has upper, has lower, has digit, has other); ASCII classes."""
    chars = set(value)
    return (
        not chars.isdisjoint(_UPPER),
        not chars.isdisjoint(_LOWER),
        not chars.isdisjoint(_DIGITS),
        not chars <= _ALNUM,
    )


def standalone_token(token: str) -> bool:
    """A token random enough to be a secret with nothing in front of it (see ``randomness``)."""
    if len(token) > 256:
        return False
    up, lo, dg, _ = char_classes(token)
    if not (up and lo and dg):
        return False
    return varied(token) and randomness(token) >= STANDALONE_THRESHOLD


_HEX = re.compile(r"[0-9a-fA-F]+")


def varied(value: str) -> bool:
    """Enough distinct characters for a random string of this length (an entropy proxy).

    Random base62 of 32 characters shows about 25 distinct ones; a third of the length rules
    out repetition ("Aa1Aa1Aa1…") at the cost of one set, where Shannon entropy costs a
    Counter and a sum of logs.
    """
    return len(set(value)) >= min(len(value) // 3, 20)


def looks_random(value: str, *, min_len: int) -> bool:
    """A token that is plausibly machine-generated secret material rather than a word or hash."""
    if len(value) < min_len:
        return False
    up, lo, dg, _ = char_classes(value)
    if not dg or not (up or lo):
        return False
    if _HEX.fullmatch(value):
        # Hex after a keyword is a real token shape (many APIs issue them); callers that see hex
        # without a keyword must reject it themselves (git SHAs, digests).
        return len(set(value)) >= 8
    # Looser than standalone tokens (STANDALONE_THRESHOLD): a keyword vouches for this one.
    return varied(value) and randomness(value) >= -0.3


_PLACEHOLDER_WORDS = word_set(
    """
    none null nil undefined true false yes no empty required optional secret password passwd token
    key apikey api_key string str int bool bytes any object redacted hidden masked n/a na tbd todo
    env example sample placeholder dummy default unset changeit xxx value pass pwd secretstr
    secret_key access_token auth_token private_key client_secret bearer basic function lambda self
    this return
    """
)
# Template syntax anywhere; a bare "$NAME"/"%NAME%"/"{name}" only as the whole value, because
# real passwords start with "$" and contain "%" often enough ("$kyAbc…" is a password).
_TEMPLATE = re.compile(
    r"\$\{|\{\{|\{%|%\(|#\{|<%|\$\(|^\$(?:[A-Z_][A-Z0-9_]*|[a-z_][a-z0-9_]*)$|^%[A-Za-z_]+%$|^\{[A-Za-z_]*\}$"
)
_TEMPLATE_CHARS = frozenset("${%#<")
_MASK_CHARS = frozenset("*xX•·.-_#?●")
_MASK_RUNS = ("***", "•••", "...", "…", "●●●")
_CALL_OR_PATH = re.compile(
    # getpass(), env("X"), os.environ[...]: a call or subscript, closed or cut short by a quote
    # after a dotted name. A password may hold "(" ("VI3MQPoh(VA3_Yq"), so an unclosed one alone is not code.
    r"[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*\s*(?:\(.*\)|\[.*\])[;,]?"
    r"|[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)+\s*[(\[].*"
    r"|[A-Za-z_][A-Za-z_]*(?:\.[A-Za-z_][A-Za-z_]*)+"  # settings.SECRET_KEY, process.env.TOKEN
)
_PLACEHOLDER_HINT = re.compile(r"(?i)your|example|placeholder|replace|insert|redacted|changeme|here\b")
_LETTERS_AND_JOINERS = re.compile(r"[A-Za-z_\- ]+")


def is_placeholder(value: str) -> bool:
    """Template variables, masks, code references and documentation placeholders.

    Called for every keyed value, so each regex is gated by a cheap test of the characters
    it needs.
    """
    if not value:
        return True
    low = value.lower()
    if low in _PLACEHOLDER_WORDS:
        return True
    chars = set(value)
    if not chars.isdisjoint(_TEMPLATE_CHARS) and _TEMPLATE.search(value):
        return True
    # Masks: "********", "xxxxxxxx", "sk-...", "•••• 4242".
    if chars <= _MASK_CHARS or low.startswith("xxx") or any(run in value for run in _MASK_RUNS):
        return True
    if value[0] in "<[{" and value[-1] in ">]}":
        return True
    if not chars.isdisjoint("([.") and _CALL_OR_PATH.fullmatch(value):
        return True
    # "YOUR_API_KEY", "your-password-here", "<insert token>": letters and joiners only.
    return _LETTERS_AND_JOINERS.fullmatch(value) is not None and _PLACEHOLDER_HINT.search(value) is not None


# Words that follow "password:"/"password is" in prose and are not the password.
STOPWORDS = word_set(
    """
    a an the is are was were be been being it its this that these those your my our their his her
    required incorrect invalid wrong correct changed expired expire expires reset resets updated
    update too weak strong short long missing empty blank hidden same different forgotten forgot
    saved stored encrypted hashed protected needed necessary must should will would can cannot could
    not never always set sent in on at for to from with without by of and or but also still now then
    here there below above see check use used using enter type typed please field manager policy
    strength length hint prompt rotation requirements requirement authentication login protected
    case-sensitive mandatory managed generated random unknown ok okay done same one any all none
    something changes change rules rule only via through stored_in vault keychain 1password
    bitwarden lastpass keepass again first last new old current temporary temp auto automatically
    securely safely provided given supplied shown displayed masked visible invisible accepted
    rejected denied matches match mismatch different like as if when where which who what how why
    because since until while after before during about into over under between sure yes no true
    false null none undefined encrypted_data option options flag flags argument arguments parameter
    parameters switch variable variables value values env
    """
)
