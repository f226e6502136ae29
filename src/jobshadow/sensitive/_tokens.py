"""Vendor credentials recognised by their fixed prefix (shared: device and server).

Every pattern starts with a literal, so the regex engine jumps between occurrences of that
literal instead of trying every position: these passes cost almost nothing on ordinary text.
A match counts only when no token character touches it on either side (``ghp_…`` inside a
longer word is somebody's identifier, not a token).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from jobshadow.sensitive._checks import char_classes, looks_random, randomness, wordiness
from jobshadow.sensitive._kinds import Finding
from jobshadow.sensitive._text import ALNUM, B64_CHARS, TOKEN_CHARS, ScanText


def _varied(value: str) -> bool:
    """Has a digit and some variety: rules out "sk_live_xxxxxxxxxx" style placeholders."""
    return any("0" <= ch <= "9" for ch in value) and len(set(value)) >= 6


def _jwt_header_ok(token: str) -> bool:
    header = token.split(".", 1)[0]
    if len(header) > 2048:
        return False
    try:
        raw = base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))
        obj = json.loads(raw)
    except (ValueError, binascii.Error, RecursionError):
        return False
    return isinstance(obj, dict) and ("alg" in obj or "typ" in obj)


def _openai_bare(token: str) -> bool:
    # "sk-" alone is shared with many vendors and with words; demand a random-looking body.
    return looks_random(token[3:], min_len=32)


@dataclass(frozen=True, slots=True)
class _Shape:
    kind: str
    fence: frozenset[str]  # characters that may not touch the match on either side
    check: Callable[[str], bool] | None = None


_STRIPE_BODY = r"[A-Za-z0-9]{10,247}"
_STRIPE = _Shape("stripe_key", ALNUM | {"_"}, _varied)

# (literal prefix, {group name: (rest of the pattern, shape)}). The literal stays outside the
# named groups: wrapping it inside them hides it from the regex compiler, which then tries every
# position instead of jumping between occurrences of the literal (30x slower, measured).
_GROUPED: tuple[tuple[str, dict[str, tuple[str, _Shape]]], ...] = (
    ("A", {
        "aws": (r"(?:KIA|SIA|BIA|CCA)[A-Z0-9]{16}", _Shape("aws_access_key", ALNUM)),
        "gcp": (r"Iza[0-9A-Za-z_\-]{35}", _Shape("gcp_api_key", TOKEN_CHARS)),
        "atl": (r"T[AC]TT3[A-Za-z0-9_\-=]{50,400}", _Shape("atlassian_token", TOKEN_CHARS | {"="})),
        "atbb": (r"TBB[A-Za-z0-9]{28,64}", _Shape("atlassian_token", TOKEN_CHARS, _varied)),
    }),
    ("g", {
        "gh": (r"h[pousr]_[A-Za-z0-9]{36,251}", _Shape("github_token", ALNUM)),
        "ghpat": (r"ithub_pat_[A-Za-z0-9_]{22,255}", _Shape("github_token", ALNUM | {"_"})),
        "gl": (
            r"l(?:pat|dt|rt|ptt|ft|soat|imt|cbt|oas|agent)-[A-Za-z0-9_\-]{20,64}",
            _Shape("gitlab_token", TOKEN_CHARS),
        ),
    }),
    ("GR1348941", {"glrunner": (r"[A-Za-z0-9_\-]{20,64}", _Shape("gitlab_token", TOKEN_CHARS))}),
    ("x", {
        "xox": (r"ox[abeprs]-[A-Za-z0-9\-]{10,250}", _Shape("slack_token", TOKEN_CHARS, _varied)),
        "xapp": (r"app-[0-9]-[A-Za-z0-9\-]{10,250}", _Shape("slack_token", TOKEN_CHARS, _varied)),
    }),
    ("https://hooks.slack.com/", {
        "hook": (
            r"(?:services|workflows|triggers)/[A-Za-z0-9_/\-]{8,200}",
            _Shape("slack_webhook", TOKEN_CHARS | {"/"}),
        ),
    }),
    ("sk", {
        "ant": (r"-ant-[A-Za-z0-9_\-]{20,250}", _Shape("anthropic_api_key", TOKEN_CHARS)),
        "oaiproj": (
            r"-(?:proj|svcacct|admin|None)-[A-Za-z0-9_\-]{20,250}",
            _Shape("openai_api_key", TOKEN_CHARS, _varied),
        ),
        "oai": (r"-[A-Za-z0-9]{32,250}", _Shape("openai_api_key", TOKEN_CHARS, _openai_bare)),
        "stripesk": (r"_(?:live|test)_" + _STRIPE_BODY, _STRIPE),
    }),
    ("rk_", {"stripe": (r"(?:live|test)_" + _STRIPE_BODY, _STRIPE)}),
    ("pk_live_", {"stripepk": (_STRIPE_BODY, _STRIPE)}),
    ("whsec_", {"whsec": (r"[A-Za-z0-9]{20,64}", _STRIPE)}),
    ("eyJ", {
        "jwt": (
            # Possessive (+): "." is outside the class, so giving characters back never helps;
            # the look-behind drops "eyJ" inside a longer token at once ("eyJeyJeyJ…" would
            # otherwise rescan thousands of characters per occurrence).
            r"(?<![A-Za-z0-9_\-]eyJ)[A-Za-z0-9_\-]{6,4000}+\.eyJ[A-Za-z0-9_\-]{6,8000}+\.[A-Za-z0-9_\-]{0,2000}+",
            _Shape("jwt", TOKEN_CHARS | {"."}, _jwt_header_ok),
        ),
    }),
)  # fmt: skip


def _compile(prefix: str, shapes: dict[str, tuple[str, _Shape]]) -> tuple[re.Pattern[str], dict[str, _Shape]]:
    alternatives = "|".join(f"(?P<{n}>{rest})" for n, (rest, _) in shapes.items())
    return re.compile(re.escape(prefix) + "(?:" + alternatives + ")"), {n: shape for n, (_, shape) in shapes.items()}


_GROUPS = {prefix: _compile(prefix, shapes) for prefix, shapes in _GROUPED}
# Every vendor key is a run of token characters (webhook URLs aside): the shared token pass
# (``ScanText.tokens``) finds the runs, and a run is matched only against the vendors whose
# prefix starts with its first character. One pass over the text instead of one per prefix.
_BY_FIRST: dict[str, tuple[tuple[re.Pattern[str], dict[str, _Shape]], ...]] = {}
for _prefix, _group in _GROUPS.items():
    if not _prefix.startswith("https://"):
        _BY_FIRST[_prefix[0]] = (*_BY_FIRST.get(_prefix[0], ()), _group)
_WEBHOOK = _GROUPS["https://hooks.slack.com/"]


def _shaped(st: ScanText, m: re.Match[str], shapes: dict[str, _Shape]) -> Finding | None:
    name = m.lastgroup
    if name is None:
        return None
    shape = shapes[name]
    s, e = m.span()
    text = st.ascii
    if (s and text[s - 1] in shape.fence) or text[e : e + 1] in shape.fence:
        return None
    if shape.check is not None and not shape.check(m.group()):
        return None
    return Finding(s, e, shape.kind)


def find_prefixed(st: ScanText) -> Iterator[Finding]:
    text = st.ascii
    for s, _ in st.tokens:
        groups = _BY_FIRST.get(text[s])
        if groups is None:
            continue
        for pattern, shapes in groups:
            m = pattern.match(text, s)
            found = _shaped(st, m, shapes) if m is not None else None
            if found is not None:
                yield found
                if found.kind == "aws_access_key":
                    yield from _aws_secret_after(st, found.end)
                break
    pattern, shapes = _WEBHOOK
    pos = text.find("https://hooks.slack.com/")
    while pos >= 0:
        m = pattern.match(text, pos)
        found = _shaped(st, m, shapes) if m is not None else None
        if found is not None:
            yield found
        pos = text.find("https://hooks.slack.com/", pos + 24)


# Entra ID client secrets: three chars, a digit, "Q~", then 31-34 chars (40 in all today).
_AZURE_SECRET_TAIL = re.compile(r"Q~[A-Za-z0-9_~.\-]{31,34}")
_AZURE_SECRET_HEAD = re.compile(r"[A-Za-z0-9_~.]{3}\d")
_AZURE_FENCE = ALNUM | frozenset("_~.-")


def find_azure_client_secret(st: ScanText) -> Iterator[Finding]:
    text = st.ascii
    m = _AZURE_SECRET_TAIL.search(text)
    while m is not None:
        s, e = m.start() - 4, m.end()
        headed = s >= 0 and _AZURE_SECRET_HEAD.fullmatch(text, s, m.start()) is not None
        if headed and st.before(s) not in _AZURE_FENCE and st.at(e) not in _AZURE_FENCE:
            yield Finding(s, e, "azure_client_secret")
            m = _AZURE_SECRET_TAIL.search(text, e)
            continue
        # Not a secret here; the real "Q~" may sit inside this match ("iQ~4Q~p44j…").
        m = _AZURE_SECRET_TAIL.search(text, m.start() + 1)


_B64_40 = re.compile(r"[A-Za-z0-9/+]{40}")


def aws_secret_shape(value: str) -> bool:
    if len(value) != 40:
        return False
    up, lo, dg, other = char_classes(value)
    # Looser than looks_random: AWS's documented example secret ends in "EXAMPLEKEY". One
    # secret in 400 has no digit, "+" or "/" at all ((52/64)**40): letters that score as random
    # count too ("pCwITknyUULkKfqXewGIytQlJXkJtMjENCivOfKe"), not an identifier's words.
    return up and lo and (dg or other or randomness(value) >= 0) and wordiness(value) <= 0.6


def _aws_secret_after(st: ScanText, end: int) -> Iterator[Finding]:
    """A 40-char secret within 300 chars after an access key id (credentials CSV, env files)."""
    text = st.ascii
    for c in _B64_40.finditer(text, end, min(len(text), end + 300)):
        s, e = c.span()
        if st.before(s) in B64_CHARS or st.at(e) in B64_CHARS:
            continue
        if aws_secret_shape(c.group()):
            yield Finding(s, e, "aws_secret_key")
            return
