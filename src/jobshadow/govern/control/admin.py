"""The programme's levers as the door pulls them: each change attributed and audited (curated zone).

``ProgrammeAdmin`` wraps ``ProgrammeState`` and ``People`` with the authenticated person (``by``)
and an audit record for every change and every refusal; it holds no key (the door hands it its
audit log and a callback that quarantines the landing zone while the programme is paused). Role
checks are the caller's (the door's request layer); the rules that hold whoever asks are here
and in ``ProgrammeState``: no self-review, no activation without an approved review, and a
pause caused by an exposure finding ends only by a reviewer's decision.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from jobshadow.errors import RequestRejected
from jobshadow.govern.audit import AuditRecord
from jobshadow.govern.control.people import People
from jobshadow.govern.control.programme import ProgrammeState

PURPOSE = "programme_administration"
Audit = Callable[[list[AuditRecord]], None]


class ProgrammeAdmin:
    def __init__(self, programme: ProgrammeState, people: People, audit: Audit,
                 on_programme: Callable[[bool, str], None] | None = None,
                 landed: Callable[[], list[dict[str, Any]]] | None = None) -> None:
        self.state = programme
        self.people = people
        self._audit = audit
        self._on_programme = on_programme
        self._landed = landed

    def _record(self, by: str, action: str, resource: str, decision: Literal["allow", "deny"] = "allow",
                reason: str = "", detail: dict[str, str | int] | None = None) -> None:
        self._audit([AuditRecord.create(principal=by, action=action, resource=resource, purpose=PURPOSE,
                                        decision=decision, reason=reason[:2000], detail=detail or {})])

    def _refusable(self, by: str, action: str, resource: str, run: Callable[[], Any]) -> Any:
        """Run a change; a refusal is audited (naming who tried) and raised."""
        try:
            return run()
        except RequestRejected as exc:
            self._record(by, action, resource, "deny", f"{exc.code}: {exc}")
            exc.audited = True  # the request layer need not record it again
            raise

    # --- people and devices -----------------------------------------------------------------------------
    def create_enroll_code(self, email: str, by: str) -> tuple[str, float]:
        code, expires, pid = self.people.create_enroll_code(email)
        self._record(by, "enroll_code.create", f"person:{pid}")
        return code, expires

    def devices(self) -> list[dict[str, Any]]:
        return self.people.devices()

    def revoke_device(self, device_id: str, by: str) -> None:
        self._refusable(by, "device.revoke", f"device:{device_id}", lambda: self.people.revoke_device(device_id))
        self._record(by, "device.revoke", f"device:{device_id}")

    def set_consent(self, person: str, state: str, source: str, by: str) -> None:
        """Record consent received outside the device (``person``: e-mail or person id)."""
        pid = self._refusable(by, f"consent.{state}", "person", lambda: self.people.person_id(person))
        self._refusable(by, f"consent.{state}", f"person:{pid}", lambda: self.state.set_consent(pid, state, source))
        self._record(by, f"consent.{state}", f"person:{pid}", detail={"source": source})

    # --- scopes and reviews -----------------------------------------------------------------------------
    def create_scope(self, name: str, definition: Mapping[str, Any], by: str) -> dict[str, Any]:
        out: dict[str, Any] = self._refusable(by, "scope.define", f"scope:{name}",
                                              lambda: self.state.define_scope(name, definition, by))
        self._record(by, "scope.define", f"scope:{name}", detail={"version": out["version"]})
        return out

    def scopes(self) -> list[dict[str, Any]]:
        return self.state.scopes()

    def submit_review(self, scope: str, by: str, notes: str = "") -> str:
        rid: str = self._refusable(by, "review.submit", f"scope:{scope}",
                                   lambda: self.state.submit_review(scope, by, notes))
        self._record(by, "review.submit", f"scope:{scope}", detail={"review": rid})
        return rid

    def decide_review(self, review_id: str, approve: bool, reviewer: str, valid_for: float = 365 * 86400,
                      notes: str = "") -> dict[str, Any]:
        action = "review.approve" if approve else "review.reject"
        out: dict[str, Any] = self._refusable(reviewer, action, f"review:{review_id}", lambda: self.state.decide_review(
            review_id, approve, reviewer, valid_for, notes))
        self._record(reviewer, f"review.{out['state']}", f"scope:{out['scope']}",
                     detail={"review": review_id, "version": out["version"]})
        return out

    def reviews(self, state: str | None = None) -> list[dict[str, Any]]:
        return [self.state.review(r["review"]) for r in self.state.reviews(state)]

    def review(self, review_id: str) -> dict[str, Any]:
        return self.state.review(review_id)

    def activate_scope(self, name: str, by: str) -> None:
        self._refusable(by, "scope.activate", f"scope:{name}", lambda: self.state.activate(name))
        self._record(by, "scope.activate", f"scope:{name}")

    def deactivate_scope(self, name: str, by: str) -> None:
        self._refusable(by, "scope.deactivate", f"scope:{name}", lambda: self.state.deactivate(name))
        self._record(by, "scope.deactivate", f"scope:{name}")

    def active_scope(self) -> dict[str, Any] | None:
        return self.state.active_scope(lambda name: self._record("system", "scope.deactivate", f"scope:{name}",
                                                                 reason="privacy review expired"))

    # --- the kill switch ----------------------------------------------------------------------------------
    def programme(self) -> dict[str, Any]:
        return self.state.programme()

    def pause_programme(self, reason: str, by: str, cause: str = "admin") -> None:
        self._refusable(by, "programme.pause", "programme", lambda: self.state.pause(reason, by, cause))
        self._sync()
        self._record(by, "programme.pause", "programme", reason=reason[:1000], detail={"cause": cause})

    def resume_programme(self, by: str, *, as_reviewer: bool = False) -> None:
        """Resume; after an exposure finding only a reviewer may (``as_reviewer``: the caller checked)."""
        current = self.state.programme()
        if current["state"] == "paused" and current["cause"] == "exposure" and not as_reviewer:
            self._record(by, "programme.resume", "programme", "deny", "reviewer_required")
            refusal = RequestRejected(403, "reviewer_required", "the programme was paused by an exposure finding: "
                                                                "a reviewer resumes it once the finding is fixed")
            refusal.audited = True
            raise refusal
        cause = self.state.resume(by)
        self._sync()
        self._record(by, "programme.resume", "programme", detail={"after": cause or "running"})

    def _sync(self) -> None:
        """The landing table's quarantine flag follows the programme (for engines reading the
        catalog); the door's own decisions read the programme state itself. Pause and resume can
        race: reading the state again after each write and repeating makes the last word win."""
        if self._on_programme is None:
            return
        for _ in range(10):
            want = self.state.programme()
            self._on_programme(want["state"] == "paused", want["reason"])
            if self.state.programme()["state"] == want["state"]:
                return

    def landed(self) -> list[dict[str, Any]]:
        """Segments in the landing zone (metadata only; the segments stay sealed)."""
        return self._landed() if self._landed is not None else []

    def status(self) -> dict[str, Any]:
        programme = self.programme()
        return {"programme": programme, "active_scope": self.active_scope(), "devices": self.people.count(),
                "landed": len(self.landed()), "landing_quarantined": programme["state"] == "paused"}
