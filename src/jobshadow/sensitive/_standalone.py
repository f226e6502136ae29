"""Long random-looking tokens with no key or prefix in front of them (shared: device and server).

The last resort, so it is strict: 32-256 characters of ``[A-Za-z0-9_-]`` standing alone
(delimited by spaces, quotes or brackets; not part of a path, URL, wrapped base64 blob,
GUID-bearing id, ``0x`` constant or ``sha256:`` digest), mixing upper case, lower case and
digits, with short character runs (camelCase and SNAKE_CASE identifiers have long ones), few
vowels and many distinct characters. Hex strings never pass: git SHAs, digests and UUIDs are hex.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from jobshadow.sensitive._checks import standalone_token, varied
from jobshadow.sensitive._kinds import Finding
from jobshadow.sensitive._text import ScanText

_OPEN = frozenset(" \t\n\r\"'`([{,:=>;")
# "?" and "!" close a sentence, and stand for any non-ASCII character (an em dash) in the view.
_CLOSE = frozenset(["", " ", "\t", "\n", "\r", '"', "'", "`", ")", "]", "}", ",", ";", "<", "?", "!"])
_DIGEST_PREFIX = re.compile(r"(?i)(?:sha\d*|md5|blake\d*|integrity|digest|hash|checksum|etag)\W{0,3}\Z")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# A line of 40+ base64 characters: wrapped blobs (fonts, images, certificates) are made of them.
_BLOB_LINE = re.compile(r"[ \t\"']*[A-Za-z0-9+/=]{40,}[ \t\"',\\n]*")


def _in_blob(text: str, s: int, e: int) -> bool:
    """Whether the token fills a line that sits next to another base64 line (a wrapped blob)."""
    ls = text.rfind("\n", 0, s) + 1
    le = text.find("\n", e)
    le = len(text) if le < 0 else le
    if not _BLOB_LINE.fullmatch(text, ls, le):
        return False
    if ls > 0:
        prev_start = text.rfind("\n", 0, ls - 1) + 1
        if _BLOB_LINE.fullmatch(text, prev_start, ls - 1):
            return True
    if le < len(text):
        next_end = text.find("\n", le + 1)
        return _BLOB_LINE.fullmatch(text, le + 1, len(text) if next_end < 0 else next_end) is not None
    return False


def find_standalone(st: ScanText) -> Iterator[Finding]:
    text = st.ascii
    for s, e in st.long_tokens:
        if s and text[s - 1] not in _OPEN:
            continue
        after = text[e : e + 1]
        if after not in _CLOSE and not (after == "." and text[e + 1 : e + 2] in _CLOSE):
            continue
        token = text[s:e]
        if token.islower() or token.isupper() or token.isdigit():
            continue  # needs upper case, lower case and digits: hex digests, ids, words never pass
        # After "Bearer " the scheme names it a token: variety is enough, no randomness score.
        bearer = st.ascii_lower.endswith("bearer ", 0, s) and varied(token) and not token.isalpha()
        if st.covered(s, e) or not (bearer or standalone_token(token)):
            continue
        if token.startswith(("0x", "0X")) or _UUID.search(token) or _in_blob(text, s, e):
            continue  # a hex constant, a GUID-bearing id, one line of a wrapped base64 blob
        word_start = s
        while word_start > 0 and not text[word_start - 1].isspace() and s - word_start < 512:
            word_start -= 1
        head = text[word_start:s]
        if "://" in head or "/" in head or _DIGEST_PREFIX.search(st.ascii_lower, max(0, s - 24), s):
            continue
        yield Finding(s, e, "generic_token")
