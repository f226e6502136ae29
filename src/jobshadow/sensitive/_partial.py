"""Could the unfinished token at the end of a text be the start of a secret? (device trust zone)

The device holds the word being typed until it is finished, up to ``max_hold``. When the hold
runs out mid-token, releasing the half typed so far would leak half a key, card or address
(``AKIAZ4QXW7``, ``4111 1111``, ``jane.doe``). ``partial(text)`` judges that trailing fragment
and returns a finding over the span to withhold, with the best-guess kind, or None when the
fragment is an ordinary word. In order, the first that applies:

1. a finding of ``scan`` over the last ``CONTEXT`` characters that reaches into the fragment
   (a value already recognisable: ``password: hunt``, a form value, a line after ``sudo``);
2. the fragment is a value whose key or prompt is already typed: after a password or PIN key
   (``password: h``, ``pw for prod = ``, ``--password ``), a secret key (``token=``,
   ``Authorization: Bearer ``), in a login form's password field (after a user field and Tab or
   ``\\x1f``), on the line after a command that prompts for a password, or after
   ``login admin / ``;
3. it starts with a vendor prefix, or is a prefix of one long enough to be distinctive
   (``AKI`` → ``aws_access_key``, ``ghp_``, ``sk-``, ``xox``, ``eyJ``, ``AIz``…);
4. an e-mail address in progress (``jane.doe@exa``), or a dotted name after an e-mail word or
   at the start of a field (``To: jane.doe``, ``\\x1fjane.doe``);
5. digit groups in progress, spanning the groups typed so far: an IBAN head (``DE89 3704``),
   ``+``/``(`` phone starts, an SSN shape (``078-05-``), 4-digit card groups (``4111 1111``),
   7+ bare digits; never a date, time, IP address, version or a single short number;
6. a high-entropy fragment (12+ characters mixing upper case, lower case and digits, not hex).

Cost: one bounded ``scan`` (a few hundred characters) and a handful of anchored matches.
"""

from __future__ import annotations

import re

from jobshadow.sensitive._checks import (
    IBAN_LENGTHS,
    STANDALONE_THRESHOLD,
    STOPWORDS,
    char_classes,
    is_placeholder,
    randomness,
    varied,
)
from jobshadow.sensitive._engine import scan
from jobshadow.sensitive._forms import field_start, tabular, user_like
from jobshadow.sensitive._keyed import key_class
from jobshadow.sensitive._kinds import Finding
from jobshadow.sensitive._pii import LOGIN_TARGET
from jobshadow.sensitive._prompted import answer_ok, prompting_plan

CONTEXT = 384  # characters before the fragment that the judgement may look at
_BREAKS = " \t\n\r\x1f"
# A value's opening inside a token: "KEY=AKIA…", "pw:hun", '"token": "abc'.
_VALUE_START = re.compile(r"""[=:"'`(<\[{,]""")
_KEY_VALUE = re.compile(r"""[=:"'`]""")  # where a key ends inside a token; not "(" (a call)
_KEY = re.compile(r"[a-z0-9_.\-]+")
_SPLIT = re.compile(r"[_.\-]+")
_LEADING_WORD = re.compile(r"[A-Za-z]+")

_PW_KEY = re.compile(
    r"""(?<![a-z])(?:pass(?:word|wd|phrase|code|wort)?|pwd|pw|pin(?:[ \t]+(?:code|number))?"""
    r"""|kennwort|senha|contrase.a)"""
    r"""(?:[ \t]+(?:for|to|of|on)[ \t]+[^\n:=]{1,40}?)?"""
    r"""(?:[ \t]*[:=][ \t]*|[ \t]+(?:is|was)[ \t]*:?[ \t]*|'s[ \t]+|[ \t]+-[ \t]+)["'`]?\Z"""
)
_PW_FLAG = re.compile(r"(?:^|[ \t])--?(?:password|passwd|pass|pwd|passphrase)[ \t=]\Z")
_SECRET_KEY = re.compile(
    r"""(?:token|secret|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret)["']?"""
    r"""[ \t]*(?::|=|=>)[ \t]*["'`]?\Z"""
)
_AUTH_SCHEME = re.compile(r"(?:authorization:[ \t]*(?:bearer|basic|token)|bearer)[ \t]+\Z")
_PAIR = re.compile(r"\b(?:log[ -]?in|sign[ -]?in|creds|credentials)\b[^\n]{0,40}?[A-Za-z0-9._@\-]+[ \t]*/[ \t]*\Z")

# (vendor prefix, kind, shortest prefix of it that is distinctive on its own).
_VENDORS: tuple[tuple[str, str, int], ...] = (
    ("AKIA", "aws_access_key", 3), ("ASIA", "aws_access_key", 4), ("ABIA", "aws_access_key", 4),
    ("ACCA", "aws_access_key", 4), ("AIza", "gcp_api_key", 3), ("ghp_", "github_token", 3),
    ("gho_", "github_token", 4), ("ghu_", "github_token", 4), ("ghs_", "github_token", 4),
    ("ghr_", "github_token", 4), ("github_pat_", "github_token", 7), ("glpat-", "gitlab_token", 3),
    ("gldt-", "gitlab_token", 4), ("glrt-", "gitlab_token", 4), ("glptt-", "gitlab_token", 5),
    ("GR1348941", "gitlab_token", 4), ("xoxb-", "slack_token", 3), ("xoxp-", "slack_token", 3),
    ("xoxa-", "slack_token", 3), ("xoxe-", "slack_token", 3), ("xapp-", "slack_token", 5),
    ("https://hooks.slack.com/", "slack_webhook", 16), ("ATATT3", "atlassian_token", 4),
    ("ATCTT3", "atlassian_token", 4), ("ATBB", "atlassian_token", 4), ("sk-ant-", "anthropic_api_key", 4),
    ("sk-proj-", "openai_api_key", 5), ("sk-", "openai_api_key", 3), ("sk_live_", "stripe_key", 4),
    ("sk_test_", "stripe_key", 4), ("rk_live_", "stripe_key", 4), ("rk_test_", "stripe_key", 4),
    ("pk_live_", "stripe_key", 5), ("whsec_", "stripe_key", 5), ("eyJ", "jwt", 3),
    ("-----BEGIN", "private_key", 7),
)  # fmt: skip

_EMAIL_PARTIAL = re.compile(r"[A-Za-z0-9._%+\-]{1,64}@(?:[A-Za-z][A-Za-z0-9\-]*(?:\.[A-Za-z0-9\-]*)*)?")
_DOTTED_NAME = re.compile(r"[A-Za-z]{2,}(?:[._][A-Za-z]{2,})+[0-9]{0,4}")
_EMAIL_CUE = re.compile(r"(?:e-?mail|mail|address|contact|cc|bcc|to:|from:|reach|write to|send to)\W{0,12}\Z")

_NUMERIC = frozenset("0123456789 -.()/+")
_IBAN_PARTIAL = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2})[0-9]{2}(?: ?[A-Z0-9]{1,4})+\Z")
_NOT_NUMBER_PII = re.compile(
    r"^(?:[12][0-9]{3}[-/.](?:[0-9]{1,2}(?:[-/.][0-9]{0,2})?)?"  # a date in progress
    r"|[0-9]{1,2}[./][0-9]{1,2}[./][0-9]{0,4}"  # 05.10.2023, 10/05/20
    r"|[0-9]{1,3}(?:\.[0-9]{1,3}){1,3}\.?"  # an IP address or a version
    r"|[0-9]{1,3}(?: [0-9]{3})+"  # thousands: 1 234 567
    r"|[0-9]+[.,][0-9]{1,2}"  # an amount: 84074.60
    r"|[0-9]{5}-[0-9]{0,4})$"  # ZIP+4
)
_SSN_PARTIAL = re.compile(r"[0-9]{3}-[0-9]{2}(?:-[0-9]{0,4})?")
_CARD_PARTIAL = re.compile(r"[2-6][0-9]{3}(?:[ -][0-9]{4}){0,3}[ -][0-9]{1,4}")
_NOT_NUMBER_CUE = re.compile(
    r"(?:\b(?:order|invoice|ticket|case|ref|id|po|tracking|isbn|ean|upc|sku|ein|tin|vat|kid|build|version|line|"
    r"port|pid|job|user)"
    r"(?:\s*(?:no\.?|nr|number))?|#)\W{0,6}\Z"
)
_KEYED_NUMBER = re.compile(r"[A-Za-z_]+[ \t]*[=:][ \t]*\Z")
_PHONE_KEY = re.compile(r"(?i)(?:phone|tel|mobile|cell|fax|contact|number)[ \t]*[=:][ \t]*\Z")
_HEX = re.compile(r"[0-9a-fA-F]+")


def partial(text: str) -> Finding | None:
    """A finding over the trailing span of ``text`` that could be the start of a secret or PII.

    ``text`` ends with an unfinished token (the typist stopped mid-word); the context before it
    is used as ``scan`` uses it. Returns None when the end is blank or the fragment reads as an
    ordinary word. See the module docstring for the rules.
    """
    if not text or text[-1] in _BREAKS:
        return None
    n = len(text)
    ts = n
    while ts > 0 and text[ts - 1] not in _BREAKS and n - ts < 512:
        ts -= 1
    lo = max(0, ts - CONTEXT)
    window = text[lo:]
    for f in reversed(scan(window)):
        if f.end + lo > ts:
            return Finding(min(f.start + lo, ts), n, f.kind)
        break
    return _keyed_context(text, ts) or _by_shape(text, ts)


def _keyed_context(text: str, ts: int) -> Finding | None:
    """The fragment is a value whose key, prompt or form field is already typed."""
    n = len(text)
    token = text[ts:]
    lower = text[max(0, ts - 80) : ts].lower()
    value_at = max((m.end() for m in _KEY_VALUE.finditer(token)), default=0)
    if value_at and _is_value(token[value_at:]) and not is_placeholder(token[token.find("=") + 1 :]):
        # "DB_PASSWORD=hun", "api_key: abc", '"token": "x': the key is inside the token.
        key = token[:value_at].strip("\"'`=: ({[<,").lower()
        if _KEY.fullmatch(key):
            cls = key_class([w for w in _SPLIT.split(key) if w] or [""])
            if cls in ("password", "pin"):
                return Finding(ts + value_at, n, "password")
            if cls == "secret" and not _plain_word(token[value_at:]):
                return Finding(ts + value_at, n, _vendor(token[value_at:]) or "generic_token")
    if not _is_value(token):
        return None
    if _PW_KEY.search(lower) or _PW_FLAG.search(lower) or _PAIR.search(lower):
        return Finding(ts, n, "password")
    # After "token =" a plain word is code ("token = await …"); after "Bearer " it is a token.
    if (_SECRET_KEY.search(lower) and not _plain_word(token)) or _AUTH_SCHEME.search(lower):
        return Finding(ts, n, _vendor(token) or "generic_token")
    if ts and text[ts - 1] in "\t\x1f":
        fs = field_start(text, ts - 1)
        user = text[fs : ts - 1] if fs >= 0 else ""
        # Not after a capitalised word: "Jan⇥1200", "Host⇥string", "Jane⇥Doe" are a sheet, a
        # struct and a name.
        plausible = user and user_like(user) and not (user.istitle() and (token.isdigit() or token.isalpha()))
        if plausible and (text[ts - 1] == "\x1f" or not tabular(text, text.rfind("\n", 0, ts) + 1, n)):
            return Finding(ts, n, "password")
    if ts and text[ts - 1] == "\n" and answer_ok(token) and token[0] not in "[(<":
        prev_start = text.rfind("\n", 0, ts - 1) + 1
        plan = prompting_plan(text[prev_start : ts - 1])
        if plan is not None and plan.user_first != "yes":
            return Finding(ts, n, "password")
        if plan is None and prev_start > 0:
            # The line after a user name that a login prompt asked for first (docker login).
            before = text.rfind("\n", 0, prev_start - 1) + 1
            plan = prompting_plan(text[before : prev_start - 1])
            if plan is not None and plan.user_first != "no" and answer_ok(text[prev_start : ts - 1].strip()):
                return Finding(ts, n, "password")
    return None


def _is_value(fragment: str) -> bool:
    """Could ``fragment`` start a value? Not punctuation, code, a template or a common word."""
    if not any(c.isalnum() for c in fragment) or is_placeholder(fragment):
        return False
    word = _LEADING_WORD.match(fragment)
    if word is None or word.group().lower() not in STOPWORDS:
        return True
    return any(c.isalnum() for c in fragment[word.end() :])  # "required');" is the word "required"


def _plain_word(fragment: str) -> bool:
    return fragment.isalpha() and (fragment.islower() or fragment.istitle())


def _vendor(fragment: str) -> str | None:
    for prefix, kind, shortest in _VENDORS:
        if fragment.startswith(prefix) or (len(fragment) >= shortest and prefix.startswith(fragment)):
            return kind
    return None


def _by_shape(text: str, ts: int) -> Finding | None:
    """Vendor prefixes, e-mail addresses, digit groups and random fragments, by their shape."""
    n = len(text)
    token = text[ts:]
    value_at = max((m.end() for m in _VALUE_START.finditer(token)), default=0)
    core = token[value_at:]
    cs = ts + value_at
    if core:
        kind = _vendor(core)
        if kind is not None:
            return Finding(cs, n, kind)
        email = _email(text, cs, core)
        if email:
            return Finding(cs, n, "email")
    numeric = _numeric(text, ts)
    if numeric is not None:
        return numeric
    if len(core) >= 12 and not _HEX.fullmatch(core):
        up, low, digit, _ = char_classes(core)
        if up and low and digit and varied(core) and randomness(core) >= STANDALONE_THRESHOLD:
            return Finding(cs, n, "generic_token")
    return None


def _email(text: str, cs: int, core: str) -> bool:
    line = text[text.rfind("\n", 0, cs) + 1 : cs]
    if "@" in core:
        if core[0] == "@" or not _EMAIL_PARTIAL.fullmatch(core):
            return False
        return LOGIN_TARGET.search(line) is None  # "ssh deploy@web-1": a login, not a mailbox
    if not _DOTTED_NAME.fullmatch(core):
        return False
    # A field start: after a click between fields, or a Tab that follows a field (not indentation).
    field_tab = cs > 1 and text[cs - 1] == "\t" and text[cs - 2] not in "\t\n "
    at_field_start = field_tab or (cs > 0 and text[cs - 1] == "\x1f")
    return at_field_start or _EMAIL_CUE.search(line.lower()) is not None


def _numeric(text: str, ts: int) -> Finding | None:
    """Digit groups typed so far, when they could be a card, phone, IBAN or SSN in progress."""
    n = len(text)
    iban = _IBAN_PARTIAL.search(text, max(0, n - 40))
    if iban is not None and iban.group(1) in IBAN_LENGTHS and iban.end() - iban.start() >= 6:
        return Finding(iban.start(), n, "iban")
    s = n
    while s > 0 and text[s - 1] in _NUMERIC and n - s < 40:
        s -= 1
    while s < n and text[s] in " -./)":
        s += 1
    if s > ts or (s and text[s - 1].isalnum()):
        return None  # the fragment is not (all) digits, or the digits are glued to a word
    run = text[s:n]
    digits = sum(c.isdigit() for c in run)
    if not digits:
        return None
    if run[0] == "+":
        return Finding(s, n, "phone") if digits >= 2 else None
    if _NOT_NUMBER_PII.match(run.strip("()./-")) or _NOT_NUMBER_CUE.search(text[max(0, s - 24) : s].lower()):
        return None
    if run[0] == "(":
        # "(415) 5…" is a phone's area code; "(139 KB" is prose.
        return Finding(s, n, "phone") if digits >= 4 and ")" in run else None
    if _SSN_PARTIAL.fullmatch(run):
        return Finding(s, n, "us_ssn")
    if _CARD_PARTIAL.fullmatch(run) and digits >= 6:
        return Finding(s, n, "credit_card")
    if _KEYED_NUMBER.search(text, max(0, s - 32), s) and not _PHONE_KEY.search(text, max(0, s - 32), s):
        return None  # "kid=1975594", "timeout=30000": a setting's number
    groups = run.replace("-", " ").replace(".", " ").replace("/", " ").split()
    sizes = [len(g.strip("()")) for g in groups]
    if "." in run and not any(c in run for c in " -/"):
        # Dotted: "415.555.01" or "06.12.34" are phones in progress, "121.0.6167.85" is a version.
        nanp = sizes[:3] == [3, 3, 4][: len(sizes)] or sizes[:3] == [3, 3, sizes[2] if len(sizes) > 2 else 0]
        pairs = run[0] == "0" and all(x <= 2 for x in sizes[1:])
        if not (nanp or pairs):
            return None
    if len(groups) == 1:
        if digits >= 12 and run[0] in "3456":
            return Finding(s, n, "credit_card")
        if run[0] == "1" and digits in (10, 13):
            return None  # a Unix timestamp in seconds or milliseconds
        return Finding(s, n, "phone") if 7 <= digits <= 12 else None
    return Finding(s, n, "phone") if digits >= 6 else None
