"""Personal data with a fixed textual shape: e-mail addresses and IBANs (shared: device and server).

E-mail is anchored on ``@`` (rare in prose, so the search is cheap) and measured outward; user
names in URLs and ``git@host:repo`` remotes are left alone. IBANs are looked for around the digit
heads the shared run pass finds (see ``iban_at``) and must have a registered country code, that
country's length and a valid mod-97 checksum.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from jobshadow.sensitive._checks import IBAN_LENGTHS, iban_valid
from jobshadow.sensitive._kinds import Finding
from jobshadow.sensitive._text import ALNUM, ScanText, word_set

_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}([A-Za-z]{2,24})(?![A-Za-z0-9-])")
_LOCAL_CHARS = ALNUM | frozenset("._%+-")
# user@host after a remote-login command on the same line is an account on a machine.
LOGIN_TARGET = re.compile(
    r"(?:^|[\s;&|`'\"(])(?:ssh|scp|sftp|rsync|sshfs|mosh|autossh|ssh-copy-id|sshpass|telnet|ftp|lftp)\b[^\n]*\Z"
)
# "icon@2x.png", "lib@1.2.0.tgz": asset names and package specs, not mailboxes.
_FILE_TLDS = word_set(
    """
    png jpg jpeg gif svg webp ico bmp tif tiff js mjs cjs ts tsx jsx py rb go rs java kt c h cpp hpp
    css scss less html htm json yaml yml toml xml md txt csv log lock so dll exe zip gz tgz tar bz2
    xz pdf doc docx xls xlsx ppt pptx mp3 mp4 mov avi wav sh bat ps1 ini cfg conf map wasm whl jar
    local localdomain internal lan localhost invalid
    """
)


def find_emails(st: ScanText) -> Iterator[Finding]:
    text = st.ascii
    pos = text.find("@")
    while pos >= 0:
        at = pos
        pos = text.find("@", at + 1)
        s = at
        while s > 0 and at - s < 64 and text[s - 1] in _LOCAL_CHARS:
            s -= 1
        while s < at and text[s] in ".-+":
            s += 1
        if s == at or text[at - 1] == "." or st.before(s) in _LOCAL_CHARS:
            continue
        dom = _DOMAIN.match(text, at + 1)
        if dom is None or dom.group(1).lower() in _FILE_TLDS:
            continue
        e = dom.end()
        if st.at(e) == ":" and st.at(e + 1) not in ("", " ", "\n", "\t", "\r"):
            continue  # git@github.com:org/repo.git, user@host:/path (scp)
        if "://" in text[max(0, s - 300) : s] and _in_url(text, s):
            continue  # https://user@host/ or https://user:pw@host: the URL's user name
        if LOGIN_TARGET.search(text, max(0, st.line_start(s) - 1), s):
            continue  # ssh deploy@web-1.example.com: a login, not a mailbox
        yield Finding(s, e, "email")


def _in_url(text: str, s: int) -> bool:
    word_start = s
    while word_start > 0 and not text[word_start - 1].isspace() and s - word_start < 300:
        word_start -= 1
    return "://" in text[word_start:s]


_IBAN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def iban_at(st: ScanText, s: int) -> Finding | None:
    """The IBAN whose country code starts at ``s`` (found by the shared run pass), if valid."""
    text = st.ascii
    n = len(text)
    length = IBAN_LENGTHS.get(text[s : s + 2])
    if length is None or (s and text[s - 1] in ALNUM):
        return None
    got: list[str] = []
    i = s
    while len(got) < length and i < n:
        ch = text[i]
        if ch in _IBAN_CHARS:
            got.append(ch)
            i += 1
        elif ch == " " and got and len(got) % 4 == 0 and text[i + 1 : i + 2] in _IBAN_CHARS:
            i += 1  # the printed form groups by four
        else:
            break
    if len(got) != length or text[i : i + 1] in ALNUM:
        return None
    return Finding(s, i, "iban") if iban_valid("".join(got)) else None
