"""Values named by a key: ``password=…``, ``api_key: …``, ``--password X``, ``Authorization: Bearer …``
(shared: device and server).

Keywords are found with literal-led searches over the lower-cased ASCII view, matched where they
end a key and only when a separator and a plausible value follow, so prose mentions never reach
Python. Around each hit the whole key is measured (``DB_PASSWORD``, ``x-api-key``,
``"clientSecret"``), then the value is parsed. The key's *last* word decides what it names:
``password_hash`` or ``max_tokens`` name something else, ``new_password`` and ``api_key`` do not.
Values that are code, template variables, masks or placeholders are dropped, so documentation and
source code that only *mention* secrets stay readable. Password words understood: English, plus
Passwort/Kennwort, senha, contraseña, пароль and (mot de) passe.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from jobshadow.sensitive._checks import STOPWORDS, is_placeholder, looks_random, randomness, standalone_token
from jobshadow.sensitive._kinds import Finding
from jobshadow.sensitive._text import ScanText, word_set
from jobshadow.sensitive._tokens import aws_secret_shape

# What may follow a key for a value to be there: an assignment (``=``, ``:``, ``=>``, ``>``
# closing an XML tag, with an optional ``[None]`` as in ``aws configure``), or spaces and a token
# that is quoted or holds a non-letter (``password hunter2``, ``token is 8f3a…``). Checked in the
# regex, so the many prose mentions ("reset your password through…") never reach Python.
_AFTER_ASSIGN = r"""["']?[ \t]*(?:\[[^\]\n]{0,24}\][ \t]*)?(?::=|=>|->|=(?!=)|:(?![:/\\])|>)"""
_VALUE_AHEAD = r"""(?:["'`]|[^ \t\r\n]*[^a-z \t\r\n])"""
_AFTER_SPACE = rf"""[ \t]+(?:(?:is|was|are)[ \t]*:?[ \t]+)?{_VALUE_AHEAD}"""
# What the key is for, between it and the separator: "pw for staging:", "password to the NAS is".
_QUAL = r"""(?:[ \t]+(?:for|to|of|on|at)[ \t]+[^\n:=.?!;,()<>"'`]{1,40}?)"""
_AFTER_PROSE = rf"""(?:[ \t]+(?:is|was|are)[ \t]*:?[ \t]+|'s[ \t]+|[ \t]+-[ \t]+){_VALUE_AHEAD}"""
_AFTER = rf"(?=(?:{_AFTER_ASSIGN})|(?:{_AFTER_SPACE})|{_QUAL}?(?:{_AFTER_ASSIGN}|{_AFTER_PROSE})|\Z)"
# "value", "b64"… name a form of what the key names; "PIN code" / "pin number" is a PIN.
_TAIL = r"(?:[_.\-]?(?:value|base|b64|str|string|plain|plaintext|raw)|[ \t](?:code|number))?"

# Keyword families, each matched where it *ends* a key (what a key names is its last word) and
# led by a literal so the engine jumps between occurrences of it. "credential" is no anchor:
# its values are file paths and JSON, handled elsewhere.
_ANCHORS = tuple(
    re.compile(p + _TAIL + _AFTER)
    for p in (
        # Families sharing a first letter or two are one pattern: each pass over the text costs
        # about as much as the next, so fewer passes is the main lever on speed.
        r"p(?:ass(?:word|wd|phrase|wort|code|e)?|wd|w|in(?:code)?)", r"se(?:cret|nha)", r"ke(?:ys?|nnwort)", r"token",
        r"auth(?:orization)?", r"identified by",
    )
)  # fmt: skip
_RARE = {_ANCHORS[-1]: "identified by"}
_NON_ASCII_ANCHORS = (re.compile("пароль" + _AFTER), re.compile("contraseña" + _AFTER))
# Their hints are looked for in the one-byte ASCII view, where "пароль" reads "??????". The
# anchors never look past a newline, so they are searched in the lowered lines holding a hint.
_NON_ASCII_HINTS = ("??????", "contrase?a")
# ``--password hunter`` takes any value, letters only included: flags (``ScanText.flags``) are
# read apart from the keyword anchors.
_FLAG_ENDINGS = ("password", "passwd", "passphrase", "pass", "pwd", "token", "secret", "key", "auth")
_KEY_RIGHT = re.compile(r"[\w.\-]{0,65}")

_SPLIT = re.compile(r"[_.\-\s]+")

_PW_WORDS = word_set(
    """
    password passwd pwd pass passphrase passcode pw pword pswd psw passwort kennwort senha contraseña
    пароль passe
    """
)
# Keys that are also the names of commands taking a non-secret argument.
_COMMAND_NAMES = frozenset({"passwd", "pass", "pwd", "kpasswd"})
_COMMAND_LEADS = frozenset({"sudo", "doas", "exec", "time", "then", "do", "&&", "||", ";", "|"})
_PW_SUFFIXES = ("password", "passwd", "passphrase", "passwort", "пароль")
_KEY_QUALIFIERS = word_set(
    """
    api access secret private account auth client signing encryption master license consumer service
    subscription storage admin session shared webhook deploy app x ingest sas primary secondary
    """
)
# Keys that are passwords in all but name: Wi-Fi keys ("wpa key", "wifi_key", "network key").
_WIFI_WORDS = frozenset({"wpa", "wpa2", "wpa3", "wep", "psk", "wifi", "wi-fi", "wlan", "network", "router"})
_PIN_WORDS = frozenset({"pin", "pincode"})
_SECRET_SUFFIXES = ("token", "secret", "apikey", "accesskey", "secretkey", "privatekey", "accountkey")
_SECRET_LAST = frozenset({"token", "secret", "auth", "apikey"})
_TRANSPARENT_LAST = frozenset({"value", "base", "b64", "str", "string", "plain", "plaintext", "raw"})


_QUOTES = "\"'`"
_ASSIGN = re.compile(r"""["']?[ \t]*(?:\[[^\]\n]{0,24}\][ \t]*)?(?::=|=>|->|=(?!=)|:(?![:/\\]))[ \t]*""")
_PROSE = re.compile(r"[ \t]+(?:is|was|are)[ \t]*:?[ \t]+|'s[ \t]+|[ \t]+-[ \t]+(?=[^\s-])")  # "pw - hunter2"
_QUALIFIER = re.compile(_QUAL + r"""(?=["']?[ \t]*(?::|=)|[ \t]+(?:is|was|are|-)[ \t]|'s[ \t])""")
_PIN = re.compile(r"[0-9]{4,8}")
_FLAG_SEP = re.compile(r"=|[ \t]+(?=[^\s-])")
_QUOTED_AFTER_SPACE = re.compile(r"[ \t]+(?=['\"])")
_SPACED_EQ = re.compile(r"""["']?[ \t]+=""")
_PASCAL = re.compile(r"(?:[A-Z][a-z]+)+")
_SQL_CONTEXT = re.compile(r"(?i)\b(?:user|role|login)\b")
_LOOSE = re.compile(r"[ \t]+")  # "password hunter2": held to the prose rules
_BARE = re.compile(r"[^\s\"'`<,]{1,256}")
_CUT = re.compile(r"[;&][A-Za-z_][\w.]*=")
_PATHLIKE = re.compile(r"(?:/|~/|\./|\.\./|[A-Za-z]:\\)")
_LETTERS = re.compile(r"[a-z]+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECRETISH = re.compile(r"(?i)pass|pwd|secret|token|key")
_HEX = re.compile(r"[0-9a-fA-F]+")
_MARKUP = re.compile(r"\([A-Za-z ]*\)|\[[A-Za-z ]*\]|\{[A-Za-z ]*\}")  # "(bool)", "[cyan]"
_AZURE_KEY = re.compile(r"[A-Za-z0-9+/]{86}==")
# The separator and opening quote between a key and its value, skipped to test the value's start.
_VALUE_HEAD = re.compile(r"""[ \t:=>"'`\[\]]*""")
_DIGEST_PREFIXES = ("SHA256:", "sha256:", "SHA1:", "sha1:", "MD5:", "md5:", "sha512-", "sha384-", "sha256-")


@dataclass(frozen=True, slots=True)
class _Value:
    start: int
    end: int
    quoted: bool
    style: str  # how it was introduced: "assign", "prose", "flag", "xml", "sql" or "loose"
    code: bool = False  # "key = value" with spaces around "=": source code, not a config file
    colon: bool = False  # "key: value" (YAML, JSON, prose, or a Python annotation)


def key_class(words: list[str]) -> str | None:
    """What a key names, from its lower-case words: "password", "secret" or None.

    camelCase keys arrive as one word ("dbpassword", "clientsecret", "tokentype"), which the
    suffix tests handle: what a key names is at its end.
    """
    last = words[-1]
    if last in _TRANSPARENT_LAST and len(words) > 1:
        words = words[:-1]
        last = words[-1]
    if last in _PIN_WORDS or (last in ("code", "number") and len(words) > 1 and words[-2] in _PIN_WORDS):
        return "pin"
    if last in _PW_WORDS or last.endswith(_PW_SUFFIXES):
        return "password"
    if last in _SECRET_LAST or last.endswith(_SECRET_SUFFIXES):
        return "secret"
    if last in ("key", "keys"):
        if any(w in _WIFI_WORDS for w in words[:-1]):
            return "password"
        return "secret" if any(w in _KEY_QUALIFIERS for w in words[:-1]) else None
    if last.endswith("key") and any(last.startswith(q) for q in _KEY_QUALIFIERS if len(q) > 2):
        return "secret"  # signingkey, masterkey, subscriptionkey
    return None


def _parse_value(st: ScanText, ks: int, ke: int, flag: bool, sql_ok: bool) -> _Value | None:
    text = st.ascii
    if st.before(ks) == "<" and st.at(ke) == ">":
        close = text.find("<", ke + 1, ke + 258)
        # Only a real element, <password>…</password>; not "(?P<password>…)" in a regex.
        if close > ke + 1 and st.ascii_lower.startswith("</" + st.ascii_lower[ks:ke], close):
            return _Value(ke + 1, close, True, "xml")
        return None
    qualified = _QUALIFIER.match(st.ascii_lower, ke)
    if qualified is not None:
        ke = qualified.end()  # "pw for staging: …": the value follows the qualifier
    style = "assign"
    sep = _ASSIGN.match(text, ke)
    if sep is None and flag and qualified is None:
        sep, style = _FLAG_SEP.match(text, ke), "flag"
    if sep is None:
        sep, style = _PROSE.match(st.ascii_lower, ke), "prose"
    if sep is None and sql_ok and qualified is None:
        sep, style = _QUOTED_AFTER_SPACE.match(text, ke), "sql"
    if sep is None and qualified is None:
        sep, style = _LOOSE.match(text, ke), "loose"
    if sep is None:
        return None
    code = style == "assign" and _SPACED_EQ.match(sep.group()) is not None
    colon = style == "assign" and sep.group().strip(" \t\"'").startswith(":")
    if style == "assign" and st.before(ks) in _QUOTES and sep.group() == ":":
        # "passwd:gecos" inside one string literal: key and "value" are a single token.
        word = _BARE.match(text, sep.end())
        if word is not None and word.group().isalpha():
            return None
    v = sep.end()
    q = st.at(v)
    if q and q in _QUOTES and style == "loose":
        return None  # "identified by 'name'" in prose: a quoted word after a key is SQL or nothing
    if q and q in _QUOTES:
        close = text.find(q, v + 1, min(st.line_end(v + 1), v + 258))
        if close > v + 1:
            return _Value(v + 1, close, True, style, code, colon)
        if close == v + 1:
            return None  # ""
        v += 1  # an unclosed quote: read on as a bare value
    m = _BARE.match(text, v)
    if m is None:
        return None
    end = m.end()
    cut = _CUT.search(text, v, end)
    if cut is not None:
        end = cut.start()
    if style == "flag" and text.startswith(("pass:", "env:", "file:", "fd:", "stdin"), v):
        # openssl -passin/-pass: only "pass:" carries the password itself; the rest point to it.
        if not text.startswith("pass:", v):
            return None
        v += 5
    value = text[v:end]
    # Trailing punctuation belongs to the sentence or the code around the value. Not "?" or
    # "!": passwords end with them often enough that leaking one is worse than over-redacting.
    while value and (value[-1] in ".:;" or (value[-1] in ")]}" and _unbalanced(value))):
        value = value[:-1]
    return _Value(v, v + len(value), False, style, code, colon) if value else None


def _random_letters(value: str) -> bool:
    """Letters in no word's pattern ("BHbZNRpdSeOULtHs"), not a variable name ("dbPassword")."""
    return len(value) >= 10 and not _plain(value) and randomness(value) >= 0


def _command_position(st: ScanText, ks: int) -> bool:
    """Whether the key starts a command: at the line's start, after a prompt, sudo or a separator
    ("pass show …", "$ sudo passwd …"), not inside a sentence ("user bob pass Hunter_2")."""
    before = st.ascii[st.line_start(ks) : ks].split()
    return not before or before[-1] in _COMMAND_LEADS or before[-1][-1] in "$#>%;|&"


def _plain(value: str) -> bool:
    """Letters in one case or Capitalised: a word, as far as prose goes (not "BnzAYYWfpAo")."""
    return value.islower() or value.isupper() or value.istitle()


def _unbalanced(value: str) -> bool:
    close = value[-1]
    opening = {")": "(", "]": "[", "}": "{"}[close]
    return value.count(opening) < value.count(close)


def _password_ok(value: str, v: _Value, key_words: list[str], rest: str) -> bool:
    if len(value) < (3 if v.quoted else 4) or len(value) > 128 or is_placeholder(value):
        return False
    if _PATHLIKE.match(value) or "://" in value:
        return False
    has_digit = any("0" <= ch <= "9" for ch in value)
    if _IDENT.fullmatch(value) and not has_digit:
        if _SECRETISH.search(value):
            return False  # password=DB_PASSWORD, "challengePassword": a name, not a value
        if not v.quoted and (rest[:1] in (",", ")") or v.code) and not _random_letters(value):
            return False  # connect(password=password), self.password = wrapper: a variable
    if not v.quoted:
        if _MARKUP.match(value):
            return False  # "password: (bool) …", "password [cyan](must…": docs and markup
        if (v.code or v.colon) and _PASCAL.fullmatch(value):
            return False  # "password: SecretStr", "LAST_PASS: Final": a type annotation
    low = value.lower()
    if not v.quoted and low in STOPWORDS:
        return False
    # Letters only, in one case or Capitalised: a word, as far as prose goes.
    plain_word = value.isalpha() and _plain(value)
    if v.style in ("prose", "loose") and not v.quoted and plain_word:
        return False  # "the password is stored in vault": only clearly non-word values in prose
    return not (key_words == ["pass"] and plain_word)


def _near_aws_id(text: str, ks: int) -> bool:
    window = text[max(0, ks - 300) : ks]
    return "AKIA" in window or "ASIA" in window


def _secret_kind(value: str, words: set[str], near_aws: Callable[[], bool]) -> str | None:
    if is_placeholder(value) or "://" in value:
        return None
    # Base64 keys may start with "/" or "+": test their shapes before the path check.
    if aws_secret_shape(value) and ("aws" in words or {"secret", "access"} <= words or near_aws()):
        return "aws_secret_key"
    if _AZURE_KEY.fullmatch(value):
        return "azure_storage_key"  # 64 random bytes in base64: the storage account key's shape
    if _PATHLIKE.match(value) or not looks_random(value, min_len=16):
        return None
    if "azure" in words and words & {"secret", "clientsecret"}:
        return "azure_client_secret"
    if words & {"jira", "atlassian", "confluence", "bitbucket"}:
        return "atlassian_token"
    return "generic_token"


def find_keyed(st: ScanText) -> Iterator[Finding]:
    seen: set[int] = set()
    yield from _keyed_hits(st, _ANCHORS, st.ascii_lower, seen)
    if "??????" in st.ascii_lower or "contrase?a" in st.ascii_lower:
        # Keywords in other scripts are searched in real lower-case copies of the lines that
        # may hold them (the ASCII view has "?" where their letters were).
        lines = st.lower_lines(_NON_ASCII_HINTS)
        for anchor in _NON_ASCII_ANCHORS:
            for offset, lowered in lines:
                yield from _keyed_hits(st, (anchor,), lowered, seen, offset)
    lower = st.ascii_lower
    for fs, fe in st.flags:
        if fe in seen or not lower.endswith(_FLAG_ENDINGS, fs, fe):
            continue
        seen.add(fe)
        ks = fs + 1 if lower[fs + 1] != "-" else fs + 2
        found = _from_key(st, ks, fe, lower[ks:fe], True)
        if found is not None:
            yield found


def _keyed_hits(
    st: ScanText, anchors: tuple[re.Pattern[str], ...], lower: str, seen: set[int], offset: int = 0
) -> Iterator[Finding]:
    """Values after the keywords ``anchors`` find in ``lower``, a lower-case view of ``st`` from
    ``offset`` on (whole lines when ``offset`` is not 0: a key never spans a newline)."""
    text = st.ascii
    for anchor in anchors:
        if anchor in _RARE and _RARE[anchor] not in lower:
            continue  # one C-level "in" instead of a regex pass for an anchor seldom there
        for hit in anchor.finditer(lower):
            rs, re_ = hit.span()  # in ``lower``; ``ke`` and all that follows in ``st``
            ke = re_ + offset
            if ke in seen:
                continue
            seen.add(ke)
            head = _VALUE_HEAD.match(text, ke)
            if head is not None and st.covered(head.end(), head.end() + 1):
                continue  # a vendor-prefix or block detector already has the value
            # The key's left part, measured on a reversed copy of the characters before it.
            back = _KEY_RIGHT.match(lower[max(0, rs - 65) : rs][::-1])
            width = back.end() if back is not None else 0
            if width > 64:
                continue  # a "key" this long is part of a blob, not a key
            key = lower[rs - width : re_]
            flag = key[:1] == "-"
            key = key.lstrip("-.")
            ks = ke - len(key)
            if st.before(ks) in ("{", "%"):
                continue  # ${PASSWORD}, %PASSWORD%: a reference, not a value
            found = _from_key(st, ks, ke, key, flag)
            if found is not None:
                yield found


def _from_key(st: ScanText, ks: int, ke: int, key: str, flag: bool) -> Finding | None:
    text = st.text
    if key.endswith("authorization"):
        return _authorization(st, ke)
    key_words = ["password"] if key == "identified by" else _SPLIT.split(key)
    cls = key_class(key_words)
    if cls is None and key_words[-1] in ("key", "keys") and len(key_words) == 1:
        cls = _bare_key_class(st, ks)
    if cls is None or (cls in ("secret", "key") and "public" in key):
        return None  # publicKeyToken, public_key: meant to be shared
    head = _VALUE_HEAD.match(st.ascii, ke)
    if head is not None and st.covered(head.end(), head.end() + 1):
        return None  # a vendor-prefix or block detector already has the value, with a better kind
    # "PASSWORD 'x'" / "IDENTIFIED BY 'x'" with no separator: SQL, and only for these keys.
    if key == "identified by":
        sql_ok = _SQL_CONTEXT.search(st.ascii, st.line_start(ks), ks) is not None
    else:
        sql_ok = key_words[-1] in ("password", "passwd")
    v = _parse_value(st, ks, ke, flag, sql_ok)
    if v is None:
        return None
    if st.covered(v.start, v.end):
        return None  # a vendor-prefix or block detector already has it, with a better kind
    value = text[v.start : v.end]
    if v.style in ("loose", "prose") and not v.quoted and value.isalpha() and (cls != "password" or _plain(value)):
        return None  # "token refresh", "password is stored": words, never values, in prose
    if v.style == "loose" and key_words[-1] in _COMMAND_NAMES and _command_position(st, ks):
        return None  # "sudo passwd alice", "pass show mail/work": a command and its argument
    if cls == "password":
        rest = text[v.end + (1 if v.quoted else 0) : v.end + 2].lstrip(" ")
        return Finding(v.start, v.end, "password") if _password_ok(value, v, key_words, rest) else None
    if cls == "pin":
        pin = _PIN.match(value)  # "4821", "4821#": a PIN is digits; "pin the version" is not one
        return Finding(v.start, v.start + pin.end(), "password") if pin and len(value) - pin.end() <= 1 else None
    if len(value) < 16:
        return None  # shorter than any token shape _secret_kind accepts
    if cls == "key":
        # "key: …" with nothing naming what key: only an unmistakably random, non-hex value
        # (hex after "key" is a cache key, a digest, a fingerprint).
        if _AZURE_KEY.fullmatch(value):
            return Finding(v.start, v.end, "azure_storage_key")
        if _HEX.fullmatch(value) or value.startswith(_DIGEST_PREFIXES) or not standalone_token(value):
            return None
        return None if is_placeholder(value) else Finding(v.start, v.end, "generic_token")
    context = set(key_words)
    context.update(_LETTERS.findall(st.ascii_lower, max(st.line_start(ks), ks - 40), ks)[-3:])
    kind = _secret_kind(value, context, lambda: _near_aws_id(text, ks))
    return Finding(v.start, v.end, kind) if kind is not None else None


def _bare_key_class(st: ScanText, ks: int) -> str | None:
    """What an unqualified "key" names, from the words before it on its line ("wpa key is …",
    "secret key: …", "API key - …"); "key" alone when nothing qualifies it."""
    lower = st.ascii_lower
    before = _LETTERS.findall(lower, max(st.line_start(ks), ks - 24), ks)[-2:]
    if any(w in _WIFI_WORDS for w in before) or lower.endswith("wi-fi ", 0, ks):
        return "password"
    if any(w in _KEY_QUALIFIERS for w in before):
        return "secret"
    return "key"


# "Authorization: Bearer …" / "Basic …" / "token …": the scheme word sits between key and value.
_AUTH_VALUE = re.compile(
    r"""["']?[ \t]*(?::|=)[ \t]*["']?(bearer|basic|token|bot|apikey|sso-key)[ \t]+([A-Za-z0-9\-._~+/]{8,4096}=*)"""
)


def _authorization(st: ScanText, ke: int) -> Finding | None:
    m = _AUTH_VALUE.match(st.ascii_lower, ke)
    if m is None:
        return None
    s, e = m.span(2)
    value = st.text[s:e]
    if is_placeholder(value) or st.covered(s, e):
        return None
    if m.group(1) == "basic" or looks_random(value, min_len=16):
        return Finding(s, e, "generic_token")
    return None
