"""Multi-part secrets: key blocks, service-account JSON, connection strings (shared: device and server).

Each is found from a literal anchor (``-----BEGIN``, ``"private_key``, ``AccountKey=``…) and then
measured outward, so the whole block is redacted rather than a fragment that leaves the rest
readable.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from jobshadow.sensitive._kinds import Finding
from jobshadow.sensitive._text import ScanText

_BEGIN = re.compile(r"-----BEGIN ((?:[A-Z0-9]+ ){0,4})PRIVATE KEY( BLOCK)?-----")
_END = re.compile(r"-----END (?:[A-Z0-9]+ ){0,4}PRIVATE KEY(?: BLOCK)?-----")
_BASE64 = re.compile(r"[A-Za-z0-9+/=]")
_KEY_BODY_HINT = re.compile(r"Proc-Type:|DEK-Info:")


def find_private_keys(st: ScanText) -> Iterator[Finding]:
    text = st.ascii
    pos = 0
    while True:
        m = _BEGIN.search(text, pos)
        if m is None:
            return
        end = _END.search(text, m.end())
        # A key pasted without its END line is still a key: redact to the end of the text.
        stop = end.end() if end is not None else len(text)
        body = text[m.end() : min(end.start() if end is not None else stop, m.end() + 200)]
        pos = stop
        if len(_BASE64.findall(body)) < 16 and not _KEY_BODY_HINT.search(body):
            continue  # the marker alone, as a constant in source code: b"-----BEGIN … KEY-----"
        yield Finding(m.start(), stop, "private_key")


_SA_KEY_ID = re.compile(r'"private_key_id"\s*:\s*"([0-9a-fA-F]{40})"')
_SA_KEY = re.compile(r'"private_key"\s*:\s*"(-----BEGIN [A-Z ]*PRIVATE KEY-----)')
_SA_HINTS = ("service_account", "private_key_id", "gserviceaccount.com")


def find_service_account(st: ScanText) -> Iterator[Finding]:
    text = st.ascii
    if '"private_key' not in text:
        return
    for m in _SA_KEY_ID.finditer(text):
        yield Finding(m.start(1), m.end(1), "gcp_service_account_key")
    for m in _SA_KEY.finditer(text):
        window = text[max(0, m.start() - 3000) : m.end() + 5000]
        if not any(h in window for h in _SA_HINTS):
            continue  # a bare "private_key" JSON field: the PEM detector reports it as private_key
        close = text.find('"', m.end(1))
        yield Finding(m.start(1), close if close >= 0 else len(text), "gcp_service_account_key")


# Two literal-led patterns rather than one alternation: a shared literal prefix lets the
# regex engine skip between occurrences instead of testing every position.
_CONN_ANCHORS = (re.compile(r"AccountKey="), re.compile(r"SharedAccess(?:Key|Signature)="))
_CONN_STOP = frozenset(" \t\r\n\"'`<>")
_CONN_FIELD = re.compile(r"[A-Za-z]+=")
_CONN_START = re.compile(r"(?:DefaultEndpointsProtocol|[A-Za-z]*Endpoint|AccountName|UseDevelopmentStorage)=")
_KEY_VALUE = re.compile(r"[A-Za-z0-9+/%&=:_\-.]{16,}")


def find_azure_connection_strings(st: ScanText) -> Iterator[Finding]:
    text = st.ascii
    last_end = -1
    anchors = sorted((m for a in _CONN_ANCHORS for m in a.finditer(text)), key=lambda m: m.start())
    for m in anchors:
        if m.start() < last_end:
            continue  # second anchor inside a string already reported
        value = _KEY_VALUE.match(text, m.end())
        if value is None:
            continue
        s = m.start()
        while s > 0 and text[s - 1] not in _CONN_STOP and m.start() - s < 2000:
            s -= 1
        # "AZURE_CONN=DefaultEndpoints…": start at the string's own first field, not the variable.
        first = _CONN_START.search(text, s, m.start())
        if first is not None:
            s = first.start()
        e = value.end()
        while e < len(text) and text[e] not in _CONN_STOP and e - m.end() < 2000:
            e += 1
        # Trailing ';' or ',' belongs to the surrounding prose or code, not the string.
        while e > value.end() and text[e - 1] in ";,.)":
            e -= 1
        fields = len(_CONN_FIELD.findall(text, s, e))
        if fields >= 2:
            last_end = e
            yield Finding(s, e, "azure_connection_string")
        else:
            yield Finding(m.end(), value.end(), "azure_storage_key")
