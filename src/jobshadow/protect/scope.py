"""Which windows are in capture scope (device trust zone).

Default deny: a window is in scope only if its application matches ``allow_apps``, it matches no
deny rule, its title passes the title rules, and it is not on the always-excluded list
(``always_excluded.toml``: password managers, credential prompts, screen lockers, private
browsing, jobshadow itself). A window nobody can identify is out of scope.
"""

from __future__ import annotations

import fnmatch
import functools
import re
import tomllib
from dataclasses import dataclass
from importlib import resources

from jobshadow.config import ScopeSettings
from jobshadow.errors import ConfigError
from jobshadow.records import WindowInfo


@dataclass(frozen=True)
class ExclusionRule:
    name: str
    apps: tuple[str, ...]
    titles: tuple[re.Pattern[str], ...]
    roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ScopeDecision:
    allowed: bool
    # "allowed", "no_window", "not_allowed", "denied_app", "denied_title", "title_not_allowed",
    # or "always:<rule>" for the always-excluded list.
    reason: str


def _compile(patterns: tuple[str, ...] | list[str], where: str) -> tuple[re.Pattern[str], ...]:
    out = []
    for p in patterns:
        try:
            out.append(re.compile(p, re.IGNORECASE))
        except re.error as exc:
            raise ConfigError(f"{where}: invalid regular expression {p!r}: {exc}") from None
    return tuple(out)


@functools.cache
def always_excluded() -> tuple[ExclusionRule, ...]:
    text = resources.files("jobshadow.protect").joinpath("always_excluded.toml").read_text()
    data = tomllib.loads(text)
    rules = []
    for r in data["rule"]:
        rules.append(ExclusionRule(
            name=r["name"],
            apps=tuple(a.lower() for a in r.get("apps", [])),
            titles=_compile(r.get("titles", []), "always_excluded.toml"),
            roles=tuple(x.lower() for x in r.get("roles", [])),
        ))
    return tuple(rules)


def _app_names(info: WindowInfo) -> tuple[str, ...]:
    return tuple(n.lower() for n in (info.wm_instance, info.wm_class, info.process or "") if n)


def _glob_any(names: tuple[str, ...], patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(n, p) for n in names for p in patterns)


class ScopePolicy:
    """Immutable and thread-safe; decisions are cached per window identity."""

    def __init__(self, settings: ScopeSettings, rules: tuple[ExclusionRule, ...] | None = None) -> None:
        self.settings = settings
        self._allow_apps = tuple(p.lower() for p in settings.allow_apps)
        self._deny_apps = tuple(p.lower() for p in settings.deny_apps)
        self._allow_titles = _compile(settings.allow_titles, "capture.scope.allow_titles")
        self._deny_titles = _compile(settings.deny_titles, "capture.scope.deny_titles")
        self._rules = always_excluded() if rules is None else rules
        self._cache: dict[tuple[str, str, str, str, str], ScopeDecision] = {}

    @property
    def nothing_in_scope(self) -> bool:
        return not self._allow_apps

    def excluded_by_rule(self, info: WindowInfo) -> str | None:
        names = _app_names(info)
        role = info.role.lower()
        for rule in self._rules:
            if _glob_any(names, rule.apps):
                return rule.name
            if any(p.search(info.title) for p in rule.titles):
                return rule.name
            if role and any(fnmatch.fnmatchcase(role, p) for p in rule.roles):
                return rule.name
        return None

    def decide(self, info: WindowInfo | None) -> ScopeDecision:
        if info is None:
            return ScopeDecision(False, "no_window")
        key = (info.wm_instance, info.wm_class, info.process or "", info.title, info.role)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        decision = self._decide(info)
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[key] = decision
        return decision

    def _decide(self, info: WindowInfo) -> ScopeDecision:
        rule = self.excluded_by_rule(info)
        if rule is not None:
            return ScopeDecision(False, f"always:{rule}")
        names = _app_names(info)
        if not _glob_any(names, self._allow_apps):
            return ScopeDecision(False, "not_allowed")
        if _glob_any(names, self._deny_apps):
            return ScopeDecision(False, "denied_app")
        if any(p.search(info.title) for p in self._deny_titles):
            return ScopeDecision(False, "denied_title")
        if self._allow_titles and not any(p.search(info.title) for p in self._allow_titles):
            return ScopeDecision(False, "title_not_allowed")
        return ScopeDecision(True, "allowed")
