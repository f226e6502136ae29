"""Operations a person may ask of the door, and who may ask which (door process).

An operation is a name, the roles allowed to ask for it, a msgspec ``Struct`` of its arguments and
a handler ``(Ctx, args) -> JSON-able`` (or ``Stream``). ``dispatch`` checks the role, audits a
refusal with the authenticated person, decodes the arguments and runs the handler. Separation of
duties beyond roles (no self-review, no self-approval, a reviewer to resume after an exposure
finding) is the door's, and holds whoever asks.

| role | may |
| --- | --- |
| admin | invite people, set roles, enrolment codes, devices, scopes, submit reviews, programme, curate |
| reviewer | decide privacy reviews and requests (never their own), resume after an exposure finding |
| steward | grants (sensitive ones become requests), groups, declassifiers |
| researcher | queries and dataset builds within their grants |
| auditor | audit log, exposure scan, read-only listings; queries for ``privacy_audit`` only |
| dpo | subject export and erasure, legal holds, consent received outside a device |
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from jobshadow.errors import RequestRejected

if TYPE_CHECKING:
    from jobshadow.config import Settings
    from jobshadow.govern import Governance

ANYONE = "*"  # any logged-in person


@dataclass(frozen=True)
class Ctx:
    gov: Governance
    settings: Settings
    principal: str
    roles: frozenset[str]


@dataclass
class Stream:
    """A binary answer (a subject export as a tar stream)."""

    media_type: str
    chunks: Iterator[bytes]
    headers: dict[str, str] = field(default_factory=dict)


class NoArgs(msgspec.Struct, forbid_unknown_fields=True):
    pass


@dataclass(frozen=True)
class Op:
    name: str
    roles: frozenset[str]
    args: type[msgspec.Struct]
    handler: Callable[[Ctx, Any], Any]
    summary: str


OPS: dict[str, Op] = {}


def op(name: str, *roles: str, args: type[msgspec.Struct] = NoArgs) -> Callable[[Callable[[Ctx, Any], Any]],
                                                                                 Callable[[Ctx, Any], Any]]:
    """Register ``handler`` as operation ``name``, allowed to ``roles`` (``ANYONE``: any logged-in person)."""
    def register(handler: Callable[[Ctx, Any], Any]) -> Callable[[Ctx, Any], Any]:
        doc = (handler.__doc__ or "").strip().splitlines()
        OPS[name] = Op(name, frozenset(roles), args, handler, doc[0] if doc else name)
        return handler

    return register


def permitted(operation: Op, roles: frozenset[str]) -> bool:
    return ANYONE in operation.roles or bool(operation.roles & roles)


def dispatch(ctx: Ctx, name: str, body: bytes) -> Any:
    """Run operation ``name`` for ``ctx.principal``; refusals are audited and raised as RequestRejected."""
    from jobshadow.govern import PolicyDenied

    operation = OPS.get(name)
    if operation is None:
        raise RequestRejected(404, "unknown_operation", f"no operation {name!r}")
    if not permitted(operation, ctx.roles):
        needed = ", ".join(sorted(operation.roles))
        ctx.gov.audit([ctx.gov._record(ctx.principal, name, f"door:{name}", "governance", False, ("roles",),
                                       f"role required: one of {needed}",
                                       detail={"roles": ",".join(sorted(ctx.roles)) or "none"})])
        refusal = RequestRejected(403, "role_required", f"{name} needs one of the roles {needed}; "
                                                        f"{ctx.principal} has {', '.join(sorted(ctx.roles)) or 'none'}")
        refusal.audited = True
        raise refusal
    try:
        args = msgspec.json.decode(body or b"{}", type=operation.args)
    except msgspec.ValidationError as exc:
        raise RequestRejected(400, "invalid_arguments", str(exc)[:300]) from None
    except msgspec.DecodeError:
        raise RequestRejected(400, "invalid_json", "the body is not JSON") from None
    try:
        return operation.handler(ctx, args)
    except PolicyDenied as exc:
        refusal = RequestRejected(403, "refused", str(exc))
        refusal.audited = exc.audited
        raise refusal from None


def load_all() -> dict[str, Op]:
    """Every operation (importing the modules that register them)."""
    from jobshadow.api import ops_lake, ops_programme  # noqa: F401 - they register on import

    return OPS
