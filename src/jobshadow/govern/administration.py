"""Administering the door: principals, groups, grants, requests, declassifiers, signed requests (curated zone).

Every change is audited, refusals included, and followed by the exposure scan; a finding pauses
the programme (the kill switch, ``[govern] pause_on_findings``), which also stops reads through
the door until a reviewer resumes it. Rules checked when something is defined, not when it is
used:

* a grant must serve a registered purpose that some column of its table may serve (labels), and
  never go to everyone, to a group that stands for everyone (``broad_groups``) or to a group
  larger than ``max_group_size``;
* on a table carrying a sensitive label, a grant is a request another person approves
  (``request_grant`` / ``decide_request``); so is joining a pipeline service group, which only
  services may join;
* a group holding grants cannot grow past ``max_group_size``.

Requests over HTTP are authenticated here against the principal's registered Ed25519 key with
the shared ``RequestVerifier`` (as devices are at the collector), with a replay window.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from jobshadow.errors import ConfigError, RequestRejected
from jobshadow.govern.model import Finding, NotAuthenticated
from jobshadow.govern.purposes import SENSITIVE, registry
from jobshadow.protocol import H_PRINCIPAL, PRINCIPAL_ID, RequestVerifier

if TYPE_CHECKING:
    from jobshadow.config import Settings
    from jobshadow.govern.audit import AuditRecord
    from jobshadow.govern.control import ProgrammeState
    from jobshadow.govern.control.admin import ProgrammeAdmin
    from jobshadow.govern.duties import Duties
    from jobshadow.govern.keys import SubjectKeys
    from jobshadow.govern.state import GovernState, Grant
    from jobshadow.govern.tables import GovernedTables

SCANNER = "service:exposure-scan"
PIPELINE_GROUP = "group:pipeline"


class Administration:
    """Mixed into ``Governance``."""

    if TYPE_CHECKING:
        settings: Settings
        state: GovernState
        keys: SubjectKeys
        tables: GovernedTables
        control: ProgrammeState
        programme: ProgrammeAdmin
        duties: Duties
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

    def _refuse(self, by: str, what: str, resource: str, message: str, detail: dict[str, str | int] | None = None,
                purpose: str = "governance") -> ConfigError:
        self.audit([self._record(by, "administer", resource, purpose, False, (), f"{what} refused: {message}",
                                 detail=detail)])
        refusal = ConfigError(message)
        refusal.audited = True  # the request layer need not record it again
        return refusal

    def _after_change(self) -> list[Finding]:
        findings = self.scan()
        if findings:
            self.exposure_found(findings)
        return findings

    def exposure_found(self, findings: list[Finding]) -> None:
        """The kill switch: capture and reads through the door stop until a reviewer resumes."""
        if self.settings.govern.pause_on_findings and self.control.programme()["cause"] != "exposure":
            kinds = ", ".join(sorted({f.kind for f in findings}))
            self.programme.pause_programme(f"exposure scan: {len(findings)} finding(s) ({kinds})", by=SCANNER,
                                           cause="exposure")
        if self.on_exposure is not None:
            self.on_exposure(findings)

    # --- principals and groups ----------------------------------------------------------------------------
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

    def is_service_group(self, group: str) -> bool:
        """The pipeline's group, or a group holding a grant for ``processing``: joining it is
        gaining the pipeline's access."""
        return group == PIPELINE_GROUP or any(g.principal == group and g.purpose == "processing"
                                              for g in self.state.grants(active_at=time.time()))

    def _check_membership(self, member: str, group: str, by: str) -> None:
        if self.is_service_group(group) and not member.startswith("service:"):
            raise self._refuse(by, "member.add", f"principal:{group}",
                               f"{group} is a pipeline service group: only services may join it",
                               {"member": member})
        limit = self.settings.govern.max_group_size
        granted = {g.principal for g in self.state.grants(active_at=time.time())}
        if group in granted and self.state.group_sizes().get(group, 0) + 1 > limit:
            raise self._refuse(by, "member.add", f"principal:{group}",
                               f"{group} holds grants and would have more than {limit} members", {"member": member})

    def add_member(self, member: str, group: str, by: str) -> list[Finding]:
        """Put ``member`` in ``group`` (direct: the caller approved it when it needs approval)."""
        self._check_membership(member, group, by)
        self.state.add_member(member, group)
        self._administer(by, "member.add", f"principal:{group}", {"member": member})
        return self._after_change()

    def request_member(self, member: str, group: str, by: str) -> dict[str, Any]:
        """Join a group; for a pipeline service group this is a request another person approves."""
        self._check_membership(member, group, by)
        if not self.is_service_group(group):
            return {"findings": self.add_member(member, group, by), "request": None}
        rid = self.duties.request("membership", {"member": member, "group": group}, by)
        self._administer(by, "member.request", f"principal:{group}", {"member": member, "request": rid})
        return {"findings": [], "request": rid}

    def remove_member(self, member: str, group: str, by: str) -> list[Finding]:
        self.state.remove_member(member, group)
        self._administer(by, "member.remove", f"principal:{group}", {"member": member})
        return self._after_change()

    # --- grants ---------------------------------------------------------------------------------------------
    def _check_grant(self, principal: str, action: str, resource: str, purpose: str, by: str) -> frozenset[str]:
        """Refuse (and audit) a grant that could never be right; returns the table's labels."""
        detail: dict[str, str | int] = {"grantee": principal, "action": action}
        where = f"table:{resource}"

        def refuse(message: str) -> ConfigError:
            return self._refuse(by, "grant", where, message, detail, purpose)

        if resource not in set(self.labelled_tables()):
            raise refuse(f"no table {resource!r}; see `jobshadow govern tables`")
        try:
            registry().check_purpose(purpose)
        except ConfigError as exc:
            raise refuse(str(exc)) from None
        s = self.settings.govern
        if principal == "*" or principal in set(s.broad_groups):
            raise refuse(f"a grant to {principal} is a grant to everyone: grant a named group of people who need it")
        size = self.state.group_sizes().get(principal, 0) if principal.startswith("group:") else 0
        if size > s.max_group_size:
            raise refuse(f"{principal} has {size} members (more than {s.max_group_size}): grant a smaller group")
        defn = self.tables.definition(resource)
        if not any(purpose in registry().allowed_purposes(c.labels) for c in defn.columns):
            raise refuse(f"no column of {resource} may ever serve {purpose} (its labels: "
                         f"{', '.join(sorted(defn.labels))})")
        return defn.labels

    def grant(self, principal: str, action: str, resource: str, purpose: str, valid_for: float, by: str,
              note: str = "") -> tuple[Grant, list[Finding]]:
        """Create a grant (direct: a sensitive one only once a request for it was approved)."""
        self._check_grant(principal, action, resource, purpose, by)
        try:
            g = self.state.grant(principal, action, resource, purpose, valid_for, by, note)
        except ConfigError as exc:
            raise self._refuse(by, "grant", f"table:{resource}", str(exc),
                               {"grantee": principal, "action": action}, purpose) from None
        self._administer(by, "grant", f"table:{resource}", {"grant": g.id, "grantee": principal, "action": action,
                                                             "purpose": purpose, "expires_at": int(g.expires_at)})
        return g, self._after_change()

    def request_grant(self, principal: str, action: str, resource: str, purpose: str, valid_for: float, by: str,
                      note: str = "") -> dict[str, Any]:
        """A grant as a person asks for it: on sensitive labels, a request another person approves."""
        labels = self._check_grant(principal, action, resource, purpose, by)
        if not labels & SENSITIVE:
            g, findings = self.grant(principal, action, resource, purpose, valid_for, by, note)
            return {"grant": g, "findings": findings, "request": None}
        rid = self.duties.request("grant", {"principal": principal, "action": action, "table": resource,
                                            "purpose": purpose, "valid_for": valid_for, "note": note[:500]}, by)
        self._administer(by, "grant.request", f"table:{resource}",
                         {"request": rid, "grantee": principal, "action": action, "purpose": purpose})
        return {"grant": None, "findings": [], "request": rid}

    def decide_request(self, request_id: str, approve: bool, by: str) -> dict[str, Any]:
        """Approve or reject a request; never its requester's own. Approval carries it out."""
        try:
            kind, p = self.duties.decide(request_id, approve, by)
        except RequestRejected as exc:
            raise self._refuse(by, "request.decide", f"request:{request_id}", str(exc)) from None
        self._administer(by, "request.approve" if approve else "request.reject", f"request:{request_id}",
                         {"kind": kind})
        if not approve:
            return {"request": request_id, "state": "rejected", "kind": kind}
        if kind == "grant":
            g, findings = self.grant(p["principal"], p["action"], p["table"], p["purpose"], float(p["valid_for"]),
                                     by, f"request {request_id}: {p.get('note', '')}")
            self.duties.record_outcome(request_id, f"grant {g.id}")
            return {"request": request_id, "state": "approved", "kind": kind, "grant": g.id,
                    "findings": [vars(f) for f in findings]}
        findings = self.add_member(p["member"], p["group"], by)
        self.duties.record_outcome(request_id, f"{p['member']} in {p['group']}")
        return {"request": request_id, "state": "approved", "kind": kind, "findings": [vars(f) for f in findings]}

    def revoke(self, grant_id: str, by: str) -> list[Finding]:
        self.state.revoke_grant(grant_id)
        self._administer(by, "revoke", f"grant:{grant_id}", {"grant": grant_id})
        return self._after_change()

    def register_declassifier(self, name: str, removes: list[str], description: str, by: str) -> list[Finding]:
        self.state.register_declassifier(name, removes, description, by)
        self._administer(by, "declassifier.register", f"declassifier:{name}", {"removes": ",".join(sorted(removes))})
        return self._after_change()

    # --- consent (the control state's, read for the row rules) --------------------------------------------
    def withdrawn_subjects(self) -> set[str]:
        return {self.keys.pseudonym(pid) for pid in self.control.withdrawn_people()}

    def consent_of_subject(self, subject: str) -> str:
        person = self.keys.person_of(subject)
        return "unknown" if person is None else self.control.consent_of(person)

    # --- signed HTTP requests from principals ---------------------------------------------------------
    def authenticate(self, method: str, target: str, body_sha256: str, headers: Mapping[str, str]) -> str:
        """The principal that signed this request (the same check devices pass); raises NotAuthenticated."""
        def signer_of(pid: str) -> tuple[bytes, str] | None:
            p = self.state.principal(pid)
            return None if p is None or not p["public_key"] else (bytes.fromhex(p["public_key"]), pid)

        skew = float(self.settings.server.clock_skew)
        verifier = RequestVerifier(H_PRINCIPAL, PRINCIPAL_ID, signer_of,
                                   lambda pid, nonce, now: self.state.use_nonce(pid, nonce, now, 2 * skew), skew,
                                   unknown_code="unknown_principal")
        try:
            return verifier.verify(method, target, body_sha256, headers)
        except RequestRejected as exc:
            raise NotAuthenticated(str(exc), code=exc.code) from None
