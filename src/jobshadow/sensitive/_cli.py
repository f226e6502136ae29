"""Passwords written inline on a command line or in a URL (shared: device and server).

``mysql -pS3cret``, ``sshpass -p S3cret``, ``curl -u alice:S3cret``, ``redis-cli -a S3cret``,
``echo S3cret | sudo -S …`` and ``scheme://user:S3cret@host``. Each rule is anchored on the
program name or on ``://`` and reads only the line it is on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from jobshadow.sensitive._checks import is_placeholder
from jobshadow.sensitive._kinds import Finding
from jobshadow.sensitive._text import ScanText

# Program names, one literal-led pass per family. What follows each is read on its own line.
_M_PROGRAMS = re.compile(r"m(?:(?P<mysql>ysql(?:dump|admin|import|check|sh)?|ariadb)|(?P<mongo>ongosh|ongo))\b")
_SSHPASS = re.compile(r"sshpass\b")
_REDIS = re.compile(r"redis-cli\b")
_LOGIN = re.compile(r"login\b")  # docker/podman login -p PW
_ATTACHED_P = re.compile(r"(?<=[ \t])-p(?!assword)([^\s'\"]\S{0,127}|'[^'\n]{1,128}'|\"[^\"\n]{1,128}\")")
_SEPARATE_P = re.compile(r"(?<=[ \t])(-p|-a)[ \t]+([^\s'\"-]\S{0,127}|'[^'\n]{1,128}'|\"[^\"\n]{1,128}\")")
# curl/wget -u user:pw, found from the flag (one pass) and kept when the line runs curl or wget.
_CURL_USER = re.compile(r"-(?:u|-user)[ \t=]+['\"]?[^\s:'\"]{1,64}:([^\s'\"]{1,128})")
_ECHO_SUDO = re.compile(r"echo[ \t]+(?:-n[ \t]+)?(['\"]?)([^\s'\"|]{1,128})\1[ \t]*\|[ \t]*sudo[ \t]+-S")
# The password runs to the *last* "@" before the host: unencoded "@" in passwords is common.
_USERINFO = re.compile(r"://[^\s/:@\"'<>]{1,64}:([^\s/\"'<>]{1,128})@[A-Za-z0-9.\-\[]")


def _unquote(m: re.Match[str], group: int) -> tuple[int, int]:
    s, e = m.span(group)
    if m.string[s] in "'\"" and e - s >= 2:
        return s + 1, e - 1
    return s, e


def _flag_values(st: ScanText, flag: str, lo: int, hi: int) -> Iterator[Finding]:
    for m in _SEPARATE_P.finditer(st.ascii, lo, hi):
        if m.group(1) == flag:
            s, e = _unquote(m, 2)
            if not is_placeholder(st.text[s:e]):
                yield Finding(s, e, "password")


def find_cli_passwords(st: ScanText) -> Iterator[Finding]:
    text = st.ascii
    for prog in _M_PROGRAMS.finditer(text):
        if st.before(prog.start()).isalnum():
            continue
        hi = st.line_end(prog.start())
        if prog.group("mongo"):
            yield from _flag_values(st, "-p", prog.end(), hi)
            continue
        for m in _ATTACHED_P.finditer(text, prog.end(), hi):
            s, e = _unquote(m, 1)
            if not is_placeholder(st.text[s:e]):
                yield Finding(s, e, "password")
    for pattern, flag in ((_SSHPASS, "-p"), (_REDIS, "-a")):  # redis-cli's -p is the port
        for prog in pattern.finditer(text):
            yield from _flag_values(st, flag, prog.end(), st.line_end(prog.start()))
    for prog in _LOGIN.finditer(text):
        if text.endswith(("docker ", "podman "), max(0, prog.start() - 7), prog.start()):
            yield from _flag_values(st, "-p", prog.end(), st.line_end(prog.start()))
    for m in _CURL_USER.finditer(text):
        if st.before(m.start()) not in (" ", "\t"):
            continue
        line = text[st.line_start(m.start()) : m.start()]
        if "curl" in line or "wget" in line:
            s, e = m.span(1)
            if not is_placeholder(st.text[s:e]):
                yield Finding(s, e, "password")
    pos = text.find("sudo -S")
    while pos >= 0:
        lo, hi = st.line_start(pos), st.line_end(pos)
        echo = _ECHO_SUDO.search(text, lo, hi)
        if echo is not None and not is_placeholder(st.text[echo.start(2) : echo.end(2)]):
            yield Finding(echo.start(2), echo.end(2), "password")
        pos = text.find("sudo -S", hi)


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
