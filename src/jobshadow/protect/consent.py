"""The person's consent on this device: the notice they agree to, and its current state.

Device trust zone. Consent is bound to the exact notice text (by hash): when the notice changes,
consent must be given again. The state lives in ``JOBSHADOW_HOME/state/consent.json`` (0600).
Nothing here knows about roles, groups or titles: the same controls apply to every person.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Literal

from jobshadow.errors import ConsentError, StateError
from jobshadow.home import Home, write_private

ConsentState = Literal["none", "given", "withdrawn", "stale"]


def notice_text() -> str:
    return resources.files("jobshadow.protect").joinpath("consent_notice.md").read_text()


def notice_version() -> str:
    return hashlib.sha256(notice_text().encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ConsentRecord:
    state: ConsentState
    notice_version: str | None = None
    given_at: str | None = None
    withdrawn_at: str | None = None


class ConsentStore:
    def __init__(self, home: Home) -> None:
        self.home = home
        self.path = home.state_dir / "consent.json"

    def read(self) -> ConsentRecord:
        if not self.path.exists():
            return ConsentRecord("none")
        try:
            data = json.loads(self.path.read_text())
            rec = ConsentRecord(
                state=data["state"],
                notice_version=data.get("notice_version"),
                given_at=data.get("given_at"),
                withdrawn_at=data.get("withdrawn_at"),
            )
        except (ValueError, KeyError, TypeError):
            raise StateError(f"{self.path} is damaged; give consent again with `jobshadow consent give`") from None
        if rec.state not in ("given", "withdrawn"):
            raise StateError(f"{self.path} has an unknown state; give consent again")
        if rec.state == "given" and rec.notice_version != notice_version():
            return ConsentRecord("stale", rec.notice_version, rec.given_at, rec.withdrawn_at)
        return rec

    def give(self) -> ConsentRecord:
        self.home.ensure()
        rec = ConsentRecord("given", notice_version(), _now(), None)
        write_private(self.path, json.dumps(asdict(rec)).encode())
        return rec

    def withdraw(self) -> ConsentRecord:
        self.home.ensure()
        prev = self.read() if self.path.exists() else ConsentRecord("none")
        rec = ConsentRecord("withdrawn", prev.notice_version, prev.given_at, _now())
        write_private(self.path, json.dumps(asdict(rec)).encode())
        return rec

    def require(self) -> None:
        """Raise ConsentError unless consent to the current notice is given."""
        rec = self.read()
        if rec.state == "given":
            return
        if rec.state == "withdrawn":
            raise ConsentError(
                "consent was withdrawn; nothing is recorded (to record again: jobshadow consent give)")
        if rec.state == "stale":
            raise ConsentError(
                "the consent notice changed since you agreed; read it and agree again: jobshadow consent give")
        raise ConsentError(
            "no consent given on this device; read `jobshadow consent show`, then `jobshadow consent give`")

    def mtime(self) -> float:
        try:
            return self.path.stat().st_mtime
        except FileNotFoundError:
            return 0.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
