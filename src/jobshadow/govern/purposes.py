"""The registry of purposes and classification labels (governance; data in purposes.toml)."""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from jobshadow.errors import ConfigError

SENSITIVE = frozenset({"typed_text", "screen_content", "window_title", "ai_prompt", "subject_identity"})


@dataclass(frozen=True)
class Label:
    name: str
    description: str
    purposes: frozenset[str]
    retention_days: int


@dataclass(frozen=True)
class Registry:
    purposes: dict[str, str]
    forbidden: frozenset[str]
    labels: dict[str, Label]

    def check_purpose(self, purpose: str) -> None:
        if purpose in self.forbidden:
            raise ConfigError(f"purpose {purpose!r} is forbidden: it can never be granted or used")
        if purpose not in self.purposes:
            raise ConfigError(f"unknown purpose {purpose!r}; known: {', '.join(sorted(self.purposes))}")

    def check_labels(self, labels: Iterable[str]) -> frozenset[str]:
        out = frozenset(labels)
        unknown = out - set(self.labels)
        if unknown:
            raise ConfigError(f"unknown labels {sorted(unknown)}; known: {', '.join(sorted(self.labels))}")
        return out

    def allowed_purposes(self, labels: Iterable[str]) -> frozenset[str]:
        """Purposes every one of ``labels`` allows (no labels: none — unlabelled data is unusable)."""
        sets = [self.labels[label].purposes for label in labels]
        if not sets:
            return frozenset()
        out = frozenset(sets[0])
        for s in sets[1:]:
            out &= s
        return out - self.forbidden

    def retention_days(self, labels: Iterable[str]) -> int:
        return min((self.labels[label].retention_days for label in labels), default=0)


@functools.cache
def registry() -> Registry:
    data = tomllib.loads(resources.files("jobshadow.govern").joinpath("purposes.toml").read_text())
    forbidden = frozenset(data["forbidden"]["purposes"])
    purposes = {k: v["description"] for k, v in data["purposes"].items()}
    if forbidden & set(purposes):
        raise ConfigError("a purpose is both registered and forbidden")
    labels = {}
    for name, spec in data["labels"].items():
        ps = frozenset(spec["purposes"])
        if ps & forbidden or ps - set(purposes):
            raise ConfigError(f"label {name} lists forbidden or unknown purposes")
        labels[name] = Label(name, spec["description"], ps, int(spec["retention_days"]))
    return Registry(purposes, forbidden, labels)
