"""Credentials written as a user-and-password pair in prose (shared: device and server).

``login admin / Tr0ub4dor&3``, ``creds bob:hunter2!``, ``credentials for the test tenant:
qa_user / S3cret!``, ``sign in as alice with Winter2024#``, ``log in with jdoe / hunter2``: the
password has no password key in front of it, only a login word and a user name. Found from the
login words (``log in``, ``login``, ``sign in``, ``creds``, ``credentials``; one literal-led pass
each), then the pair is parsed; the second part is a ``password`` when it reads like one —
never a plain word (``login page / dashboard``, ``sign in with Google``), a path, a URL, a
placeholder, or a number (``account 12345/67890``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from jobshadow.sensitive._checks import is_placeholder
from jobshadow.sensitive._kinds import Finding
from jobshadow.sensitive._text import ScanText, word_set

# After the login word: an optional "for <what>", a separator or a joining word, the user, the
# pair's separator, the value.
_REST = (
    r"""(?:[ \t]+(?:for|to|of|on)[ \t]+[^\n:=/]{1,40}?)?"""
    r"""(?:[ \t]*[:=][ \t]*|[ \t]+(?:is|as|with|using|via)[ \t]+|[ \t]+)"""
    r"""["'`]?(?P<user>[A-Za-z0-9][A-Za-z0-9._@+\-\\]{0,63})["'`]?"""
    r"""(?:[ \t]*/[ \t]*|:|[ \t]+(?:with|and|pass(?:word)?|pw|pwd)[ \t:]+|[ \t]*,[ \t]*)"""
    r"""["'`]?(?P<value>[^\s"'`]{3,64})"""
)
_ANCHORS = tuple(
    re.compile(p + _REST)
    # Led by a bare literal (a leading \b would hide it from the regex compiler, which then tries
    # every position); the word boundary is checked on each hit instead.
    for p in (r"log(?:-in|in| in)\b", r"sign(?:-in|in| in)\b", r"cred(?:s|entials?)\b")
)
_TRAILING = ".,;:!?)]}"
_NUMBERISH = re.compile(r"[0-9.,:/\-+]+")
_NOT_USERS = word_set(
    """
    the a an your my our their this that it page screen button link form portal flow issue issues
    problem problems error errors fails failed works sso saml oauth google microsoft github apple
    okta email e-mail phone
    """
)


def _value_ok(value: str) -> bool:
    if len(value) < 4 or is_placeholder(value) or "://" in value or value.startswith(("/", "~", "./")):
        return False
    if _NUMBERISH.fullmatch(value):
        return False  # "account 12345/67890", versions, dates, times
    letters_only = value.isalpha()
    return not (letters_only and (value.islower() or value.isupper() or value.istitle()))


def find_login_pairs(st: ScanText) -> Iterator[Finding]:
    lower, text = st.ascii_lower, st.text
    for anchor in _ANCHORS:
        for m in anchor.finditer(lower):
            user = m.group("user")
            if st.before(m.start()).isalpha() or user in _NOT_USERS or not any(c.isalpha() for c in user):
                continue  # "Last login: 2021-09-21T07:25:54": a time, not a user name
            s, e = m.span("value")
            while e > s and text[e - 1] in _TRAILING:
                e -= 1
            value = text[s:e]
            if _value_ok(value) and not st.covered(s, e):
                yield Finding(s, e, "password")
