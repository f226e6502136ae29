"""Passwords written inline on a command line or in a URL (shared: device and server).

``mysql -pS3cret``, ``sshpass -p S3cret``, ``curl -u alice:S3cret``, ``redis-cli -a S3cret``,
``echo S3cret | sudo -S …`` and ``scheme://user:S3cret@host``. Each rule is anchored on the
flag (from the shared flag pass) or on ``://``, and reads only the line it is on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from jobshadow.sensitive._checks import is_placeholder
from jobshadow.sensitive._kinds import Finding
from jobshadow.sensitive._text import ScanText

# Found from the flags (``ScanText.flags``, one shared pass); the program is then looked for on
# the flag's own line, before it.
_MYSQL = re.compile(r"(?<![\w-])(?:mysql(?:dump|admin|import|check|sh)?|mariadb)\b")
_MONGO = re.compile(r"(?<![\w-])mongo(?:sh)?\b")
_LOGIN = re.compile(r"(?<![\w-])(?:docker|podman)[ \t]+login\b")
_ATTACHED_P = re.compile(r"(?<=[ \t])-p(?!assword)([^\s'\"]\S{0,127}|'[^'\n]{1,128}'|\"[^\"\n]{1,128}\")")
_SEPARATE_P = re.compile(r"(?<=[ \t])(-p|-a)[ \t]+([^\s'\"-]\S{0,127}|'[^'\n]{1,128}'|\"[^\"\n]{1,128}\")")
_CURL_USER = re.compile(r"-(?:u|-user)[ \t=]+['\"]?[^\s:'\"]{1,64}:([^\s'\"]{1,128})")
_ECHO_SUDO = re.compile(r"echo[ \t]+(?:-n[ \t]+)?(['\"]?)([^\s'\"|]{1,128})\1[ \t]*\|[ \t]*sudo[ \t]+-S")
# The password runs to the *last* "@" before the host: unencoded "@" in passwords is common.
_USERINFO = re.compile(r"://[^\s/:@\"'<>]{1,64}:([^\s/\"'<>]{1,128})@[A-Za-z0-9.\-\[]")


def _unquote(m: re.Match[str], group: int) -> tuple[int, int]:
    s, e = m.span(group)
    if m.string[s] in "'\"" and e - s >= 2:
        return s + 1, e - 1
    return s, e


def _value(st: ScanText, m: re.Match[str] | None, group: int) -> Finding | None:
    if m is None:
        return None
    s, e = _unquote(m, group)
    return None if is_placeholder(st.text[s:e]) else Finding(s, e, "password")


def find_cli_passwords(st: ScanText) -> Iterator[Finding]:
    text, lower = st.ascii, st.ascii_lower
    for fs, fe in st.flags:
        name = lower[fs:fe]
        if name[:2] not in ("-p", "-a", "-u", "-s", "--") or (name[1] == "-" and name != "--user"):
            continue
        ls = st.line_start(fs)
        found: Finding | None = None
        if name.startswith("-p") and not name.startswith(("-passw", "-passp")) and name != "-pass":
            if _MYSQL.search(lower, ls, fs):
                found = _value(st, _ATTACHED_P.match(text, fs), 1)
            elif name == "-p" and (
                "sshpass" in lower[ls:fs] or _LOGIN.search(lower, ls, fs) or _MONGO.search(lower, ls, fs)
            ):
                found = _value(st, _SEPARATE_P.match(text, fs), 2)
        elif name == "-a" and "redis-cli" in lower[ls:fs]:  # redis-cli's -p is the port
            found = _value(st, _SEPARATE_P.match(text, fs), 2)
        elif name in ("-u", "--user") and ("curl" in lower[ls:fs] or "wget" in lower[ls:fs]):
            found = _value(st, _CURL_USER.match(text, fs), 1)
        elif name == "-s" and text.startswith("sudo -S", fs - 5):
            found = _value(st, _ECHO_SUDO.search(text, ls, st.line_end(fs)), 2)
        if found is not None:
            yield found


def find_url_passwords(st: ScanText) -> Iterator[Finding]:
    text = st.ascii
    pos = text.find("://")
    while pos >= 0:
        m = _USERINFO.match(text, pos)
        if m is not None:
            s, e = m.span(1)
            if not is_placeholder(st.text[s:e]):
                yield Finding(s, e, "password")
        pos = text.find("://", pos + 3)
