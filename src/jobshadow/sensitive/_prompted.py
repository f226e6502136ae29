"""Passwords typed on the line after a command that asks for one (shared: device and server).

In keystroke text a password has no key in front of it: ``sudo apt update⏎hunter2⏎``. The
rule: a line holding one token, right after a line that runs a prompting command (sudo, su, ssh,
passwd, psql, kinit, docker login…), is a password — unless it is itself a command, an answer
(y/n), a path or a URL. Retries and confirm-prompts make a few consecutive lines count; commands
that first ask for a user name (ftp, ``docker login`` without ``-u``, git over https) skip it.
Passphrase prompts (gpg, ssh-add, ssh-keygen, openssl, cryptsetup…) may take several words.

Lone-token lines are found with one regex pass; the (rare) lines before them are parsed in
Python. Passphrase commands are found by name since their answers may contain spaces.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from jobshadow.sensitive._checks import STOPWORDS, is_placeholder
from jobshadow.sensitive._kinds import Finding
from jobshadow.sensitive._text import MAX_LINE, ScanText, word_set


@dataclass(frozen=True, slots=True)
class _Plan:
    passwords: int  # how many answer lines may be passwords (retries, confirmations)
    user_first: str  # "no", "yes": a user-name line comes first, "maybe": only if two lines follow
    phrase: bool  # answers may contain spaces (passphrases)


_SIMPLE: dict[str, _Plan] = {
    **dict.fromkeys(("su", "doas", "pkexec", "ssh", "ssh-copy-id", "sshfs", "sftp"), _Plan(3, "no", False)),
    **dict.fromkeys(("passwd", "kpasswd"), _Plan(4, "no", False)),
    **dict.fromkeys(
        ("psql", "pg_dump", "pg_dumpall", "pg_restore", "createdb", "dropdb", "createuser", "kinit", "runas"),
        _Plan(3, "no", False),
    ),
    **dict.fromkeys(("ftp", "lftp", "telnet", "login", "oc"), _Plan(3, "yes", False)),
    **dict.fromkeys(("smbclient", "mount.cifs"), _Plan(2, "no", False)),
    **dict.fromkeys(("ssh-add",), _Plan(3, "no", True)),
    **dict.fromkeys(("ssh-keygen", "ansible-vault", "cryptsetup", "htpasswd", "keytool"), _Plan(3, "no", True)),
}
_MYSQL = frozenset({"mysql", "mariadb", "mysqldump", "mysqladmin", "mysqlimport", "mysqlcheck", "mysqlsh"})
_GIT_REMOTE = frozenset({"push", "pull", "clone", "fetch", "ls-remote", "submodule"})
_LOGIN_TOOLS = frozenset({"docker", "podman", "buildah", "skopeo", "helm", "vault", "cf"})
_ANSIBLE_ASK = frozenset({"-K", "-k", "--ask-become-pass", "--ask-pass", "--ask-vault-pass", "-J"})
_GPG_PROMPTING = re.compile(
    r"(?:^|\s)(?:-c|--symmetric|-d|--decrypt|-s|--sign|--clearsign|--detach-sign|-b|--export-secret-keys|"
    r"--gen-key|--full-generate-key|--full-gen-key|--quick-gen-key|--edit-key|--passwd|--import)(?:\s|$)"
)
_OPENSSL_PROMPTING = re.compile(
    r"-(?:aes|des|camellia|aria|chacha)\S*|\bpkcs12\b|-pass(?:in|out)(?!\s+(?:pass|env|file|fd):)"
)
# Every command name _plan_for knows, for the quick tests in prompting_plan and _command_at.
_PROMPTING = (
    frozenset(_SIMPLE)
    | _MYSQL
    | _LOGIN_TOOLS
    | {"sudo", "git", "gpg", "gpg2", "openssl", "zip", "7z", "scp", "rsync", "mount"}
)
_SEPARATORS = frozenset({"&&", "||", ";", "|", "then", "do", "time", "nohup", "exec", "command", "builtin", "!"})
_PROMPT_ENDS = frozenset("$#>%\u276f\u00bb\u279c\u03bb")  # $ # > % and the fancy prompt glyphs


def _command_at(tokens: list[str]) -> int:
    """Index of the first token in command position that names a prompting command, or -1.

    Command position: the line's start, after a prompt ("$", "user@host:~$") or after a
    separator ("&&", ";"). A line that opens with a prompt glyph may carry decorations before
    the command ("➜  api git:(main) ✗ sudo …"), so there the first few tokens all qualify.
    """
    decorated = bool(tokens) and tokens[0][-1] in _PROMPT_ENDS
    for i, tok in enumerate(tokens):
        word = tok.lstrip("(")
        if word not in _PROMPTING and not word.startswith("ansible"):
            continue
        after_prompt = tokens[i - 1][-1] in _PROMPT_ENDS or (decorated and i <= 6)
        if i == 0 or after_prompt or tokens[i - 1] in _SEPARATORS or tokens[i - 1][-1] == ";":
            return i
    return -1


def prompting_plan(line: str) -> _Plan | None:
    tokens = line.split()
    if _PROMPTING.isdisjoint(tokens) and "ansible" not in line and "(" not in line:
        return None  # most lines: no prompting command at all (a C-level set test)
    i = _command_at(tokens)
    if i < 0:
        return None
    return _plan_for(tokens[i:], line)


def _plan_for(args: list[str], line: str) -> _Plan | None:
    cmd = args[0].lstrip("(")
    rest = args[1:]
    if any(a.startswith(("PGPASSWORD=", "MYSQL_PWD=", "SSHPASS=")) for a in args):
        return None
    if cmd in ("sudo", "doas"):
        if any(a in ("-n", "--non-interactive", "-k", "-K") for a in rest):
            return None
        if any(a in ("-S", "--stdin") for a in rest) and ("|" in line or "<" in line):
            return None  # the password comes down the pipe (find_cli_passwords reads it)
        inner = _inner_command(rest)
        inner_plan = _plan_for(inner, line) if inner else None
        if inner_plan is None:
            return _Plan(3, "no", False)
        # sudo's own prompt (maybe cached) plus the inner program's prompts.
        return _Plan(inner_plan.passwords + 1, "no", inner_plan.phrase)
    if cmd in ("ssh", "sftp") and any("BatchMode=yes" in a for a in rest):
        return None
    if cmd in ("scp", "rsync"):
        return _Plan(3, "no", False) if any(":" in a and not a.startswith("-") for a in rest) else None
    if cmd in _SIMPLE:
        if cmd == "oc" and (not rest or rest[0] != "login" or "--token" in line or "-p" in rest):
            return None
        return _SIMPLE[cmd]
    if cmd in _MYSQL:
        asks = any(a in ("-p", "--password") for a in rest)
        return _Plan(3, "no", False) if asks else None
    if cmd == "git":
        if not rest or rest[0] not in _GIT_REMOTE or "git@" in line or "ssh://" in line:
            return None
        return _Plan(2, "maybe", False)
    if cmd in _LOGIN_TOOLS:
        if "login" not in rest or "--password-stdin" in rest or "-p" in rest or "--password" in rest:
            return None
        if cmd == "vault":
            return _Plan(1, "no", False)
        named = any(a in ("-u", "--username") or a.startswith(("--username=", "-u=")) for a in rest)
        return _Plan(2, "no" if named else "yes", False)
    if cmd.startswith("ansible"):
        if cmd == "ansible-vault":
            return _SIMPLE[cmd]
        prompts = sum(1 for a in rest if a in _ANSIBLE_ASK)
        return _Plan(prompts + 1, "no", False) if prompts else None
    if cmd in ("gpg", "gpg2"):
        return _Plan(3, "no", True) if _GPG_PROMPTING.search(line) else None
    if cmd == "openssl":
        return _Plan(3, "no", True) if _OPENSSL_PROMPTING.search(line) else None
    if cmd == "zip":
        return _Plan(2, "no", True) if any(a in ("-e", "--encrypt") for a in rest) else None
    if cmd == "7z":
        return _Plan(2, "no", True) if "-p" in rest else None
    if cmd == "mount":
        return _Plan(2, "no", False) if "cifs" in line else None
    return None


def _inner_command(rest: list[str]) -> list[str]:
    """The command sudo runs, after its own options (``-u postgres``, ``-E``, ``-i``…)."""
    i = 0
    while i < len(rest) and rest[i].startswith("-"):
        i += 2 if rest[i] in ("-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U") else 1
    return rest[i:]


# Answers and ordinary commands that land on the line after sudo/ssh without being passwords.
_COMMANDS = word_set(
    """
    ls ll la l cd pwd cat less more head tail grep egrep fgrep rg ag find fd echo printf exit logout
    clear reset history top htop btop atop uptime whoami id w who date cal df du free ps pstree kill
    killall pkill man help info vim vi nvim nano emacs code subl git docker kubectl k9s helm make
    cmake python python3 ipython pip pip3 node npm npx yarn pnpm deno bun go cargo rustc java javac
    mvn gradle apt apt-get aptitude yum dnf pacman zypper brew snap flatpak systemctl service
    journalctl dmesg lsblk lscpu lsusb lspci lsof lsmod ifconfig ip ss netstat ping traceroute dig
    nslookup host curl wget ssh scp rsync tar zip unzip gzip gunzip bzip2 xz mv cp rm mkdir rmdir
    touch chmod chown chgrp ln env export source alias unalias which whereis type file stat tree
    bash sh zsh fish dash ksh tmux screen byobu su sudo exec time watch sleep true false yes no y n
    q quit bye exit() logout cls dir ipconfig tasklist systeminfo hostname uname nproc arch
    lsb_release neofetch fastfetch sync reboot shutdown poweroff halt mount umount fdisk parted mkfs
    fsck blkid crontab at jobs fg bg disown wait set unset shopt bind complete fc hash ulimit umask
    trap read readonly declare local return break continue shift eval test fi done else esac then do
    end ok okay abort cancel skip wc sort uniq cut tr sed awk xargs tee diff patch nl od xxd hexdump
    strings base64 md5sum sha256sum openssl gpg ssh-add ssh-keygen ansible terraform vagrant psql
    mysql redis-cli mongo mongosh sqlite3 node_modules venv activate deactivate conda poetry uv
    pytest tox nox ruff mypy black flake8
    """
)
# Prompt text as a screen shows it ("Password:", "Enter passphrase for /home/a/.ssh/id:").
_PROMPT_TEXT = re.compile(r"(?i)assword|assphrase|^(?:enter|verifying|retype|re-enter|confirm)\b|:$")
_ANSWERS = re.compile(r"(?i)y|n|yes|no|q|quit|exit|\d{1,3}|[.:;,/\\!?*#~^$@%&|+=<>{}()\[\]-]+")
# A line holding one token. Lines that are plainly code or config (``KEY=value``, ``key:``,
# brackets, fences, comments) are left out here, in C, because they are most of the lone lines
# in real text and each one that reaches Python costs a look at the line above.
# Anchored on "\n" alone (a literal is searched far faster than a character class); text that
# ends its lines with a bare "\r" is scanned with those mapped to "\n". Possessive quantifiers
# (``*+``): a line that fails must not be re-tried a character shorter (measured 2.5x faster).
_LONE = re.compile(
    r"\n[ \t]*+(?![A-Z_][A-Z0-9_]*+=|[a-z_][a-z0-9_.]*+=|[{}\[\]`<]|--|//|#!)([^ \t\r\n]{1,128}+)(?<![:,{\[;])"
    r"[ \t]*+(?=\r?\n|\Z)"
)


def answer_ok(answer: str) -> bool:
    first = answer.split(None, 1)[0]
    if first.lower() in _COMMANDS or _ANSWERS.fullmatch(answer):
        return False
    if answer.startswith(("/", "~", "./", "../", "-", "\\", "#!")) or "://" in answer:
        return False  # paths, flags, psql meta-commands (\dt), shebangs
    return not is_placeholder(answer)


def _line_before(st: ScanText, start: int) -> tuple[int, int] | None:
    """(start, end) of the line that ends just before ``start`` (a line's first character)."""
    if start == 0:
        return None
    end = start - 1
    if st.text[end] == "\n" and end > 0 and st.text[end - 1] == "\r":
        end -= 1
    return st.line_start(end), end


def _line_after(st: ScanText, end: int) -> tuple[int, int] | None:
    """(start, end) of the line after the line that ends at ``end``."""
    text = st.text
    if end >= len(text):
        return None
    s = end + (2 if text.startswith("\r\n", end) else 1)
    return (s, st.line_end(s)) if s <= len(text) else None


def _answers(st: ScanText, plan: _Plan, cmd_end: int) -> Iterator[Finding]:
    """Walk the lines after a prompting command line and report the passwords among them.

    The first password line takes any token that is not a command; later lines (retries,
    confirmations) must repeat an earlier answer or look like a password (not one lower-case
    word), since after a successful prompt the next line is usually the next command, and no
    list of commands is complete. A line that reads like the prompt itself (OCR'd screens show
    "Enter passphrase for …:" where keystrokes would show the answer) ends the walk.
    """
    text = st.text
    lines: list[tuple[int, int]] = []
    seen: set[str] = set()
    first_password = 0 if plan.user_first == "no" else 1
    cur = _line_after(st, cmd_end)
    limit = plan.passwords + (1 if plan.user_first != "no" else 0)
    while cur is not None and len(lines) < limit:
        s, e = cur
        answer = text[s:e].strip(" \t")
        if not answer or (not plan.phrase and (" " in answer or "\t" in answer)) or not answer_ok(answer):
            break
        if _PROMPT_TEXT.search(answer):
            break
        if len(lines) > first_password and answer not in seen and answer.isalpha() and answer.islower():
            break
        seen.add(answer)
        lead = len(text[s:e]) - len(text[s:e].lstrip(" \t"))
        lines.append((s + lead, s + lead + len(answer)))
        cur = _line_after(st, e)
    skip = 1 if plan.user_first == "yes" or (plan.user_first == "maybe" and len(lines) >= 2) else 0
    for s, e in lines[skip:]:
        yield Finding(s, e, "password")


def find_prompted(st: ScanText) -> Iterator[Finding]:
    done: set[int] = set()
    view = st.ascii
    lines = view if "\n" in view or "\r" not in view else view.replace("\r", "\n")
    for m in _LONE.finditer(lines):
        # The line before this lone line; most are ruled out by one C-level set test on its
        # words, before anything else is computed.
        le = m.start()
        ls = lines.rfind("\n", max(0, le - MAX_LINE), le) + 1
        if ls in done:
            continue  # _answers already walked down from this command over its answer lines
        line = lines[ls:le]
        if line.endswith("\r"):
            line, le = line[:-1], le - 1
        if line.endswith("?"):
            if _ASKS_PASSWORD.search(line) is not None:
                answer = _reply(st, m.start(1), m.end(1))
                if answer is not None:
                    yield answer
            continue
        if _PROMPTING.isdisjoint(line.split()) and "ansible" not in line and "(" not in line:
            continue
        if m.group(1).lower() in _COMMANDS:
            continue  # neither a password nor a user name
        plan = prompting_plan(st.text[ls:le])  # the real text: prompt glyphs ("➜") are not ASCII
        if plan is not None:
            done.add(ls)
            yield from _answers(st, plan, le)


# A question that ends by asking for a password ("what's the wifi password?", "pw for the shared
# mailbox?"), answered on the next line; "why is the password field optional?" asks for none.
_ASKS_PASSWORD = re.compile(
    r"(?i)\b(?:password|passwd|pw|pwd|pass|passcode|passphrase|pin|creds)"
    r"(?:[ \t]+(?:for|to|of|on)\b[^?\n]{0,40})?[ \t]*\?+[ \t]*\Z"
)


def _reply(st: ScanText, s: int, e: int) -> Finding | None:
    """The answer line to a password question, when it reads like a password: not a command,
    a yes/no, a plain word ("vault", "Bitwarden") or a placeholder."""
    answer = st.text[s:e]
    if not answer_ok(answer) or answer.lower() in STOPWORDS:
        return None
    core = answer.rstrip(".!?")
    if core.replace("-", "").isalpha():
        return None  # words ("vault", "Bitwarden", "thanks!", "Wi-Fi"), not a password
    return Finding(s, e, "password")


# Commands whose passphrases often hold spaces; one literal search each ("ssh-" covers ssh-add
# and ssh-keygen). Rarer prompting tools get one-word answers only, via find_prompted.
_PHRASE_COMMANDS = ("gpg", "ssh-", "openssl")


def find_passphrases(st: ScanText) -> Iterator[Finding]:
    """Answers with spaces after passphrase prompts; one-word answers are found by find_prompted."""
    text, view = st.text, st.ascii
    for name in _PHRASE_COMMANDS:
        pos = view.find(name)
        while pos >= 0:
            ls, le = st.line_start(pos), st.line_end(pos)
            plan = prompting_plan(text[ls:le])
            if plan is not None and plan.phrase:
                yield from _answers(st, plan, le)
            pos = view.find(name, le + 1)
