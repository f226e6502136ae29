"""Collection scopes: what may be captured, for which purposes, kept how long (curated zone).

A scope is checked when it is defined, not when it is used: every purpose must be registered and
none forbidden (``performance_evaluation`` can never be a reason to collect), every stream known,
every title pattern a valid regular expression, and no app pattern a catch-all (``*``, ``?*``,
``[a-z]*``: a pattern must name something). ``scope_diff`` tells a privacy reviewer exactly what
changed since the previous version.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jobshadow.errors import RequestRejected
from jobshadow.govern.purposes import registry
from jobshadow.protocol import STREAMS

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
FIELDS = ("apps", "deny_apps", "allow_titles", "deny_titles", "streams", "purposes", "retention_days")
# Literal characters an allowed app pattern needs besides its wildcards: "x*" is nearly everything.
MIN_LITERAL = 2


def _invalid(message: str) -> RequestRejected:
    return RequestRejected(400, "invalid_scope", message)


def _literal(pattern: str) -> str:
    """What a glob pattern says besides its wildcards (``*``, ``?`` and ``[…]`` classes)."""
    return re.sub(r"\[[^\]]*\]|[*?]", "", pattern)


@dataclass(frozen=True)
class ScopeDefinition:
    apps: tuple[str, ...]
    deny_apps: tuple[str, ...]
    allow_titles: tuple[str, ...]
    deny_titles: tuple[str, ...]
    streams: tuple[str, ...]
    purposes: tuple[str, ...]
    retention_days: int

    def as_json(self) -> dict[str, Any]:
        return {"apps": list(self.apps), "deny_apps": list(self.deny_apps), "allow_titles": list(self.allow_titles),
                "deny_titles": list(self.deny_titles), "streams": list(self.streams),
                "purposes": list(self.purposes), "retention_days": self.retention_days}

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> ScopeDefinition:
        def strings(key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
            value = data.get(key, list(default))
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) and 0 < len(v) <= 200 for v in value):
                raise _invalid(f"{key} must be a list of non-empty strings")
            if len(value) > 200:
                raise _invalid(f"{key} has too many entries")
            return tuple(value)

        unknown = set(data) - set(FIELDS)
        if unknown:
            raise _invalid(f"unknown scope fields: {sorted(unknown)}")
        apps = strings("apps")
        if not apps:
            raise _invalid("a scope needs at least one app")
        broad = [a for a in apps if len(_literal(a).strip()) < MIN_LITERAL]
        if broad:
            raise _invalid(f"app pattern {broad[0]!r} is a catch-all; name the applications to capture")
        streams = strings("streams", STREAMS)
        bad = set(streams) - set(STREAMS)
        if bad:
            raise _invalid(f"unknown streams {sorted(bad)}; known: {list(STREAMS)}")
        if not streams:
            raise _invalid("a scope needs at least one stream")
        purposes = strings("purposes", ("model_training",))
        if not purposes:
            raise _invalid("a scope needs at least one purpose")
        reg = registry()
        for p in purposes:
            if p in reg.forbidden:
                raise _invalid(f"purpose {p!r} is forbidden: nothing may be collected for it")
            if p not in reg.purposes:
                raise _invalid(f"unknown purpose {p!r}; registered: {', '.join(sorted(reg.purposes))}")
        for pattern in strings("allow_titles") + strings("deny_titles"):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise _invalid(f"invalid regular expression {pattern!r}: {exc}") from None
        retention = data.get("retention_days", 90)
        if not isinstance(retention, int) or isinstance(retention, bool) or not 1 <= retention <= 3650:
            raise _invalid("retention_days must be an integer from 1 to 3650")
        return cls(apps, strings("deny_apps"), strings("allow_titles"), strings("deny_titles"), streams,
                   tuple(dict.fromkeys(purposes)), retention)


def check_name(name: str) -> str:
    if not NAME.match(name or ""):
        raise _invalid("scope names are 1-100 letters, digits, '.', '_' or '-'")
    return name


def scope_diff(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[str]:
    """What ``new`` changes from ``old``, one line per field ("apps: +chromium -xterm")."""
    if old is None:
        return ["first version"]
    out = []
    for key in FIELDS:
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, list) and isinstance(b, list):
            added = [x for x in b if x not in a]
            removed = [x for x in a if x not in b]
            parts = [f"+{x}" for x in added] + [f"-{x}" for x in removed]
            out.append(f"{key}: {' '.join(parts) or 'reordered'}")
        else:
            out.append(f"{key}: {a} -> {b}")
    return out or ["no change"]
