"""Capture scope: default deny, allow/deny rules, and the always-excluded list."""

from __future__ import annotations

import pytest

from jobshadow.config import ScopeSettings
from jobshadow.errors import ConfigError
from jobshadow.protect.scope import ScopePolicy, always_excluded
from jobshadow.records import Rect, WindowInfo


def win(instance: str, cls: str, title: str = "", process: str | None = None, role: str = "") -> WindowInfo:
    return WindowInfo(1, instance, cls, title, 123, process, Rect(0, 0, 10, 10), role=role)


def test_default_denies_everything() -> None:
    p = ScopePolicy(ScopeSettings())
    assert p.nothing_in_scope
    assert not p.decide(win("xterm", "XTerm")).allowed
    assert p.decide(None).reason == "no_window"


def test_allow_deny_and_titles() -> None:
    p = ScopePolicy(ScopeSettings(allow_apps=("xterm", "code*", "Navigator"), deny_apps=("code-insiders",),
                                  deny_titles=(r"payroll",), allow_titles=()))
    assert p.decide(win("xterm", "XTerm")).allowed
    assert p.decide(win("code", "Code")).allowed  # glob, case-insensitive
    assert p.decide(win("navigator", "firefox")).allowed
    assert p.decide(win("code-insiders", "Code")).reason == "denied_app"
    assert p.decide(win("xterm", "XTerm", "Payroll Q3 — vim")).reason == "denied_title"
    assert p.decide(win("slack", "Slack")).reason == "not_allowed"
    only = ScopePolicy(ScopeSettings(allow_apps=("chromium",), allow_titles=(r"- Jira$",)))
    assert only.decide(win("chromium", "Chromium", "PROJ-1 - Jira")).allowed
    assert only.decide(win("chromium", "Chromium", "Inbox - Gmail")).reason == "title_not_allowed"


def test_invalid_regex_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="deny_titles"):
        ScopePolicy(ScopeSettings(allow_apps=("x",), deny_titles=("(unclosed",)))


@pytest.mark.parametrize(
    ("window", "rule"),
    [
        (win("keepassxc", "KeePassXC"), "password_manager"),
        (win("1password", "1Password"), "password_manager"),
        (win("bitwarden", "Bitwarden"), "password_manager"),
        (win("x", "Y", process="keepassxc"), "password_manager"),
        (win("pinentry-gtk-2", "Pinentry-gtk-2"), "credential_prompt"),
        (win("ssh-askpass", "Ssh-askpass"), "credential_prompt"),
        (win("polkit-gnome-authentication-agent-1", "Polkit-gnome-authentication-agent-1"), "credential_prompt"),
        (win("gcr-prompter", "Gcr-prompter", "Unlock Login Keyring"), "credential_prompt"),
        (win("xterm", "XTerm", "Authentication Required"), "credential_prompt"),
        (win("xscreensaver", "XScreenSaver"), "screen_locker"),
        (win("i3lock", "i3lock"), "screen_locker"),
        (win("chromium", "Chromium", "New Tab - Chromium (Incognito)"), "private_browsing"),
        (win("navigator", "firefox", "Mozilla Firefox Private Browsing"), "private_browsing"),
        (win("msedge", "Microsoft-edge", "New tab - InPrivate"), "private_browsing"),
        (win("chromium", "Chromium", "x", role="browser-incognito"), "private_browsing"),
        (win("jobshadow", "Jobshadow"), "jobshadow"),
    ],
)
def test_always_excluded_wins_over_allow_all(window: WindowInfo, rule: str) -> None:
    p = ScopePolicy(ScopeSettings(allow_apps=("*",)))
    d = p.decide(window)
    assert not d.allowed and d.reason == f"always:{rule}"


def test_always_excluded_list_is_data_and_complete() -> None:
    names = {r.name for r in always_excluded()}
    assert names == {"password_manager", "credential_prompt", "screen_locker", "private_browsing", "jobshadow"}


def test_ordinary_windows_are_not_caught_by_the_list() -> None:
    p = ScopePolicy(ScopeSettings(allow_apps=("*",)))
    for w in (win("chromium", "Chromium", "PROJ-42: fix login form - Jira - Chromium"),
              win("xterm", "XTerm", "user@host: ~/src"), win("code", "Code", "passwords.py - repo")):
        assert p.decide(w).allowed, w.title
