"""Administering the door: principals, groups, grants, declassifiers, consent, signed requests (curated zone).

Every change is audited and followed by the exposure scan; with a kill-switch callback
(``on_exposure``) a finding pauses the programme. Requests over HTTP are authenticated here
against the principal's registered Ed25519 key, with a replay window.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from jobshadow.errors import ConfigError
from jobshadow.govern.model import Finding, NotAuthenticated

if TYPE_CHECKING:
    from jobshadow.config import Settings
    from jobshadow.govern.audit import AuditRecord
    from jobshadow.govern.consent import ConsentMirror
    from jobshadow.govern.keys import SubjectKeys
    from jobshadow.govern.state import GovernState, Grant


class Administration:
    """Mixed into ``Governance``."""

    if TYPE_CHECKING:
        settings: Settings
        state: GovernState
        keys: SubjectKeys
        consent: ConsentMirror
        on_exposure: Callable[[list[Finding]], None] | None

        def audit(self, records: list[AuditRecord]) -> None: ...

        def _record(self, principal: str, action: str, resource: str, purpose: str, allowed: bool,
                    policy_ids: tuple[str, ...] | list[str], reason: str = "", subject: str | None = None,
                    detail: dict[str, str | int] | None = None) -> AuditRecord: ...

        def labelled_tables(self) -> list[str]: ...

        def scan(self) -> list[Finding]: ...

    def _administer(self, by: str, what: str, resource: str, detail: dict[str, str | int]) -> None:
        self.audit([self._record(by, "administer", resource, "governance", True, ("administrator",),
                                 what, detail=detail)])

    def _after_change(self) -> list[Finding]:
        findings = self.scan()
        if findings and self.on_exposure is not None:
            self.on_exposure(findings)
        return findings

    def add_principal(self, pid: str, by: str, *, public_key: str | None = None, person_id: str | None = None,
                      ) -> list[Finding]:
        """Register a person, service or group (a person may be linked to their own subject)."""
        subject = self.keys.pseudonym(person_id) if person_id else None
        if public_key is not None:
            try:
                if len(bytes.fromhex(public_key)) != 32:
                    raise ValueError
            except ValueError:
                raise ConfigError("a principal's public key is 64 hex characters (raw Ed25519)") from None
        self.state.add_principal(pid, subject=subject, public_key=public_key)
        self._administer(by, "principal.add", f"principal:{pid}", {"public_key": "set" if public_key else "none"})
        return self._after_change()

    def add_member(self, member: str, group: str, by: str) -> list[Finding]:
        self.state.add_member(member, group)
        self._administer(by, "member.add", f"principal:{group}", {"member": member})
        return self._after_change()

    def remove_member(self, member: str, group: str, by: str) -> list[Finding]:
        self.state.remove_member(member, group)
        self._administer(by, "member.remove", f"principal:{group}", {"member": member})
        return self._after_change()

    def grant(self, principal: str, action: str, resource: str, purpose: str, valid_for: float, by: str,
              note: str = "") -> tuple[Grant, list[Finding]]:
        if resource not in set(self.labelled_tables()):
            raise ConfigError(f"no table {resource!r}; see `jobshadow govern tables`")
        try:
            g = self.state.grant(principal, action, resource, purpose, valid_for, by, note)
        except ConfigError as exc:
            self.audit([self._record(by, "administer", f"table:{resource}", purpose, False, (), f"grant refused: {exc}",
                                     detail={"grantee": principal, "action": action})])
            raise
        self._administer(by, "grant", f"table:{resource}", {"grant": g.id, "grantee": principal, "action": action,
                                                             "purpose": purpose, "expires_at": int(g.expires_at)})
        return g, self._after_change()

    def revoke(self, grant_id: str, by: str) -> list[Finding]:
        self.state.revoke_grant(grant_id)
        self._administer(by, "revoke", f"grant:{grant_id}", {"grant": grant_id})
        return self._after_change()

    def register_declassifier(self, name: str, removes: list[str], description: str, by: str) -> list[Finding]:
        self.state.register_declassifier(name, removes, description, by)
        self._administer(by, "declassifier.register", f"declassifier:{name}", {"removes": ",".join(sorted(removes))})
        return self._after_change()

    # --- consent (mirrored from the control plane) -----------------------------------------------------
    def set_consent(self, person_id: str, state: str) -> None:
        self.consent.record(person_id, state)

    def withdrawn_subjects(self) -> set[str]:
        return self.consent.withdrawn()

    # --- signed HTTP requests from principals ---------------------------------------------------------
    def authenticate(self, method: str, target: str, body_sha256: str, headers: Mapping[str, str]) -> str:
        """The principal that signed this request (Ed25519, as devices sign theirs); raises PolicyDenied."""
        from jobshadow.protocol import H_NONCE, H_PRINCIPAL, H_SIGNATURE, H_TIMESTAMP, verify_signature

        pid, ts_text = headers.get(H_PRINCIPAL, ""), headers.get(H_TIMESTAMP, "")
        nonce, sig = headers.get(H_NONCE, ""), headers.get(H_SIGNATURE, "")
        if not (pid and ts_text and nonce and sig):
            raise NotAuthenticated("request is not signed (X-Jobshadow-Principal, -Timestamp, -Nonce, -Signature)")
        try:
            ts = int(ts_text)
        except ValueError:
            raise NotAuthenticated("the signature timestamp is not an integer") from None
        skew = float(self.settings.server.clock_skew)
        if abs(time.time() - ts) > skew:
            raise NotAuthenticated(f"request timestamp outside the {skew:.0f} s window")
        p = self.state.principal(pid)
        if p is None or not p["public_key"]:
            raise NotAuthenticated("unknown principal, or one without a registered key")
        if not verify_signature(bytes.fromhex(p["public_key"]), method, target, body_sha256, ts, nonce, pid, sig):
            raise NotAuthenticated("signature does not verify")
        if not self.state.use_nonce(pid, nonce, time.time(), 2 * skew):
            raise NotAuthenticated("this request was already received (replay)")
        return pid
