"""Shape rules: find secrets on screen by how they look, without needing OCR to read them exactly.

The shared detector decides on exact text (checksums, vendor patterns, keyword context). OCR of a
random string is rarely exact, and a misread secret is still legible to a person, so these rules
mark what *looks* like a secret and accept masking some harmless look-alikes. What is safer to
over-mask was decided per shape:

* key-shaped tokens (16+ characters of mixed case and digits, a vendor prefix, a JWT): masked,
  even if they are a harmless random id. Lower-case hex (git SHAs, UUIDs, digests) and
  identifiers (camelCase, snake_case, host names, paths) are left alone.
* e-mail-shaped tokens (`x@y.z`, with `,` or `©` misreads): masked.
* runs of 9+ digits with separators (cards, phones, SSNs, bank numbers): masked, except dates,
  times, IP addresses and versions.
* IBAN-shaped runs (country, check digits, groups): masked.
* the value after a password/secret/token keyword followed by `:` or `=`: masked.
* a long word the OCR itself was unsure of (confidence < 45) that mixes letters and digits:
  masked, because random strings are exactly what the recogniser is unsure of.

Each rule returns ``(first word, last word, kind)`` over one line's tokens; kinds are the
detector's (``jobshadow.sensitive.KINDS``).
"""

from __future__ import annotations

import itertools
import re

from jobshadow.redact.confusions import by_class, punctuation

_EDGE_PUNCT = "\"'`()[]{}<>,;.:!?*\u201c\u201d\u2018\u2019\u00ab\u00bb"  # and typographic quotes (OCR)
_SEGMENT_SPLIT = re.compile(r"[./:@\\]")
_IDENT_PART = re.compile(r"^(?:[a-z]{1,20}\d{0,3}|[A-Z][a-z]{1,20}\d{0,3}|[A-Z]{1,8}\d{0,3}|\d{1,4})$")
_LOWER_HEX = re.compile(r"^[0-9a-f-]+$")
_UPPER_HEX = re.compile(r"^[0-9A-F-]+$")
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("AKIA", "aws_access_key"), ("ASIA", "aws_access_key"), ("ABIA", "aws_access_key"), ("ACCA", "aws_access_key"),
    ("AIza", "gcp_api_key"), ("ghp_", "github_token"), ("gho_", "github_token"), ("ghu_", "github_token"),
    ("ghs_", "github_token"), ("ghr_", "github_token"), ("github_pat_", "github_token"), ("glpat-", "gitlab_token"),
    ("gldt-", "gitlab_token"), ("glrt-", "gitlab_token"), ("xox", "slack_token"), ("xapp-", "slack_token"),
    ("https://hooks.slack.com", "slack_webhook"), ("ATATT", "atlassian_token"), ("ATCTT", "atlassian_token"),
    ("ATBB", "atlassian_token"), ("sk-ant-", "anthropic_api_key"), ("sk-", "openai_api_key"),
    ("sk_live_", "stripe_key"), ("sk_test_", "stripe_key"), ("rk_live_", "stripe_key"), ("rk_test_", "stripe_key"),
    ("pk_live_", "stripe_key"), ("whsec_", "stripe_key"), ("eyJ", "jwt"), ("DefaultEndpointsProtocol",
    "azure_connection_string"), ("Endpoint=sb:", "azure_connection_string"), ("AccountKey=", "azure_storage_key"),
    ("-----BEGIN", "private_key"),
)  # fmt: skip
# A local part the OCR split before a `.`/`_`/`+` (``rupert .perez@…``) comes along; so does an
# address cut at the end of a line (``peggy+worker@stark-``), whose domain wrapped.
_EMAIL = re.compile(r"(?:[A-Za-z0-9%+'-]+ (?=[._+]))?[A-Za-z0-9._%+'-]+ ?@ ?[A-Za-z0-9-]+"
                    r"(?:(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}|[-.]?$)", re.MULTILINE)
_NUMBERISH = re.compile(r"^[+(]?\d[\d()./-]*$")
# A word, then two or more short lower-case pieces (``payments-7d4b9c8f6d-x2kqp``): what
# orchestrators name pods, replica sets and containers (`B` may be a rewritten `8`; one capital a misread).
_GENERATED = re.compile(r"^[a-z][a-z0-9]*(?:[-\u2013\u2014]+[a-z0-9]{1,10}){2,}$")
_CONTINUED = re.compile(r"^[-./]\d[\d()./-]*$")
_DATE = re.compile(r"^(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})$")
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_VERSION = re.compile(r"^v?\d+(?:\.\d+){1,3}$")
LOOKALIKE = re.compile(r"^(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{1,2}:\d{2}(?::\d{2})?"
                        r"|\d{1,3}(?:\.\d{1,3}){3}|v?\d+(?:\.\d+){1,3}|[$€£]\d[\d,]*(?:\.\d{2})?)$")
_IBAN_HEAD = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]*$")
_IBAN_GROUP = re.compile(r"^[A-Z0-9]{1,4}$")
_KEYWORD = re.compile(
    r"^(?:pass(?:word|wd|phrase|code)?|pwd|pin|secret|client[-_]?secret|token|api[-_]?key|apikey|access[-_]?key|"
    r"secret[-_]?key|private[-_]?key(?:[-_]?id)?|credentials?|auth)\W*$"
)
_KEYWORD_INLINE = re.compile(
    r"^(?:pass(?:word|wd)?|pwd|secret|token|api[-_]?key|apikey|private[-_]?key[-_]?id)\W{0,2}[:=]\W{0,2}(?=\S{4,})"
)


def core(token: str) -> str:
    return token.strip(_EDGE_PUNCT)


def prefix_kind(token: str) -> str | None:
    for prefix, kind in _PREFIXES:
        if token.startswith(prefix):
            return kind
    return None


def _transitions(s: str) -> int:
    def cls(c: str) -> int:
        return 0 if c.isdigit() else 1 if c.isupper() else 2 if c.islower() else 3

    return sum(cls(a) != cls(b) for a, b in itertools.pairwise(s))


def key_shaped(token: str) -> str | None:
    """The kind of secret ``token`` looks like, or None."""
    c = core(token)
    if len(c) < 16:
        return None
    kind = prefix_kind(c)
    segment = max(_SEGMENT_SPLIT.split(c), key=len)
    if len(segment) < 16:
        return kind if kind in ("slack_webhook", "azure_connection_string") else None
    if _LOWER_HEX.match(segment) or _UPPER_HEX.match(segment):
        return None  # git SHAs, UUIDs, digests: left for the detector's keyword rules
    if _GENERATED.match(segment.lower()) and sum(ch.isupper() and ch != "B" for ch in segment) <= 1:
        return kind  # generated resource names (k8s pods, containers): lower-case pieces
    parts = [p for p in re.split(r"(?<=[a-z])(?=[A-Z])|[-_]", segment) if p]
    if parts and all(_IDENT_PART.match(p) for p in parts):
        return kind  # snake_case, kebab-case, camelCase identifiers
    digits = sum(ch.isdigit() for ch in segment)
    upper = sum(ch.isupper() for ch in segment)
    lower = sum(ch.islower() for ch in segment)
    if digits == 0 and (upper == 0 or lower == 0):
        return kind
    if _transitions(segment) < 0.25 * len(segment) and kind is None:
        return None
    return kind or "generic_token"


def unsure(token: str, conf: float) -> bool:
    """A long token the recogniser was unsure of that looks random: a stretch of 10+ letters and
    digits that mixes them, or changes case often (a host prompt or a long plain word does not)."""
    if conf >= 45:
        return False
    for run in re.findall(r"[A-Za-z0-9+/=_~-]{10,}", token):
        digits = sum(ch.isdigit() for ch in run)
        letters = sum(ch.isalpha() for ch in run)
        if (digits and letters and digits + letters >= 10) or _transitions(run) >= 3:
            return True
    return False


def random_looking(token: str) -> bool:
    """A token of 4+ characters that mixes letters with digits or flips case 3+ times, and is not
    a date, time, IP address, version or price (they flip between digits and separators, and
    stand next to secrets in every table and log line)."""
    c = core(token)
    if len(c) < 4 or LOOKALIKE.match(c):
        return False
    has_digit = any(ch.isdigit() for ch in c)
    has_alpha = any(ch.isalpha() for ch in c)
    return (has_digit and has_alpha) or _transitions(c) >= 3


def emails(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _EMAIL.finditer(punctuation(text))]


def digit_runs(tokens: list[str]) -> list[tuple[int, int, str]]:
    """Runs of number-shaped tokens with 9+ digits in all (cards, phones, SSNs, accounts)."""
    out: list[tuple[int, int, str]] = []
    i = 0
    mapped = [core(by_class(t)) if t[:1] != "+" else "+" + core(by_class(t[1:])) for t in tokens]
    while i < len(mapped):
        if not _numberish(mapped[i]):
            i += 1
            continue
        j = i
        # A group the OCR split off at its separator (``045`` ``-93-8970``) goes on the number.
        while j + 1 < len(mapped) and (_numberish(mapped[j + 1]) or _CONTINUED.match(mapped[j + 1])):
            j += 1
        run = mapped[i:j + 1]
        digits = sum(ch.isdigit() for t in run for ch in t)
        if digits >= 9:
            joined = "".join(run)
            ndigits = "".join(ch for ch in joined if ch.isdigit())
            kind = ("us_ssn" if re.fullmatch(r"\d{3}-\d{2}-\d{4}", joined) else
                    "phone" if joined.startswith("+") or "(" in joined or len(ndigits) in (10, 11, 12) else
                    "credit_card" if 13 <= len(ndigits) <= 19 else "phone")
            out.append((i, j, kind))
        i = j + 1
    return out


def _numberish(token: str) -> bool:
    return bool(_NUMBERISH.match(token)) and not (_DATE.match(token) or _IPV4.match(token)
                                                 or _VERSION.match(token))


def ibans(tokens: list[str]) -> list[tuple[int, int, str]]:
    out: list[tuple[int, int, str]] = []
    for i, t in enumerate(tokens):
        head = core(t).upper()
        if len(head) < 4 or not head[:2].isalpha():
            continue
        head = head[:2] + by_class(head[2:4]) + head[4:]
        if not _IBAN_HEAD.match(head):
            continue
        j, length = i, len(head)
        while j + 1 < len(tokens) and _IBAN_GROUP.match(core(tokens[j + 1]).upper()) and length < 34:
            j += 1
            length += len(core(tokens[j]))
        if length >= 15 and any(ch.isdigit() for ch in "".join(tokens[i:j + 1])[4:]):
            out.append((i, j, "iban"))
    return out


def keyword_values(tokens: list[str]) -> list[tuple[int, int, str]]:
    """The token after `password:`-like keywords (OCR-confused spellings included), or a token
    that carries both (`password=hunter2`)."""
    out: list[tuple[int, int, str]] = []
    for i, t in enumerate(tokens):
        folded = by_class(t).lower().lstrip(_EDGE_PUNCT)
        kind = "password" if folded.startswith(("pass", "pwd", "pin")) else "generic_token"
        if _KEYWORD_INLINE.match(folded):
            out.append((i, i, kind))
            continue
        # Tesseract often reads `_` as a space: `private key id":` is `private_key_id":`. The
        # longest keyword of up to three words wins.
        last, joined = -1, folded
        for k in range(i, min(len(tokens), i + 3)):
            if k > i:
                if not joined.replace("_", "").isalpha():
                    break  # a word that ends in `:` ends the keyword
                joined += "_" + by_class(tokens[k]).lower()
            if _KEYWORD.match(joined):
                last, folded = k, joined
        if last < 0:
            continue
        nxt = last + 1
        ends_with_mark = folded.rstrip().endswith((":", "="))
        if not ends_with_mark and nxt < len(tokens) and tokens[nxt] in (":", "=", "is:"):
            ends_with_mark, nxt = True, nxt + 1
        if ends_with_mark and nxt < len(tokens) and len(core(tokens[nxt])) >= 4:
            out.append((nxt, nxt, kind))
    return out
