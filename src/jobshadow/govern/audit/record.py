"""Audit records and their canonical bytes (curated zone / governance).

One ``AuditRecord`` is written per access decision, allowed or denied. Its canonical
serialization is the Merkle *leaf input*, so it is fixed forever for ``v = 1``:

* a JSON object with exactly the keys ``v, time, principal, action, resource, purpose, decision,
  policy_ids, reason, subject, detail``;
* keys sorted (all keys are ASCII, so code-point order is unambiguous), separators ``,`` and ``:``
  with no whitespace, non-ASCII characters written as UTF-8 rather than ``\\u`` escapes, no NaN;
* ``policy_ids`` a JSON array in the caller's order, ``subject`` ``null`` when absent, ``detail``
  an object of string keys to strings or integers (never booleans or floats);
* encoded as UTF-8.

``time`` is a string, not a datetime: ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC, always 27 characters,
so the bytes are reproducible by any language and string order equals time order (the store's
``since`` query relies on that). ``format_time`` produces it from an aware datetime.

Records carry *who / what / why*, never data values: ``detail`` is for counts and ids, and every
string is length-capped and free of control characters so a record cannot smuggle payloads or
forge lines in a terminal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final, Literal

from jobshadow.govern.audit.errors import AuditRecordError

RECORD_VERSION: Final = 1
Decision = Literal["allow", "deny"]
DECISIONS: Final = ("allow", "deny")

# Bounds keep one leaf small (well under 64 KiB) and stop a record from carrying data values.
MAX_NAME = 256  # principal, action, purpose, subject, each policy id
MAX_RESOURCE = 1024
MAX_REASON = 2048
MAX_POLICY_IDS = 64
MAX_DETAIL_ITEMS = 32
MAX_DETAIL_KEY = 64
MAX_DETAIL_VALUE = 256
# JSON integers beyond 2**53 lose precision in many parsers; a count never needs more.
MAX_DETAIL_INT = 2**53 - 1

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
# Unicode category Cc (C0, DEL, C1) and Cs (surrogates), as one regex: a per-character
# unicodedata loop made verifying a million leaves twice as slow.
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_KEYS: Final = frozenset(
    {"v", "time", "principal", "action", "resource", "purpose", "decision"}
    | {"policy_ids", "reason", "subject", "detail"}
)


def format_time(when: datetime | None = None) -> str:
    """The record time format for ``when`` (default: now); ``when`` must be timezone-aware."""
    if when is None:
        when = datetime.now(UTC)
    if when.tzinfo is None or when.utcoffset() is None:
        raise AuditRecordError("audit times must be timezone-aware datetimes")
    return when.astimezone(UTC).strftime(_TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """The aware UTC datetime of a record time string; rejects any other spelling."""
    if not isinstance(text, str) or _TIME_RE.fullmatch(text) is None:
        raise AuditRecordError("time must look like 2024-01-31T12:00:00.000000Z (UTC, microseconds)")
    try:
        return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise AuditRecordError("time is not a real calendar date and time") from None


def _check_text(name: str, value: object, limit: int, *, empty_ok: bool = False) -> str:
    if not isinstance(value, str):
        raise AuditRecordError(f"{name} must be a string, not {type(value).__name__}")
    if not value and not empty_ok:
        raise AuditRecordError(f"{name} must not be empty")
    if len(value) > limit:
        raise AuditRecordError(f"{name} is {len(value)} characters; the limit is {limit}")
    # Control characters would let a record rewrite terminal lines when listed; lone surrogates
    # cannot be encoded as UTF-8 and would make the leaf bytes unreproducible.
    bad = _FORBIDDEN.search(value)
    if bad is not None:
        code = ord(bad.group())
        what = "a lone surrogate" if 0xD800 <= code <= 0xDFFF else "a control character"
        raise AuditRecordError(f"{name} contains {what} (U+{code:04X})")
    return value


def _check_detail(value: object) -> dict[str, str | int]:
    if not isinstance(value, Mapping):
        raise AuditRecordError(f"detail must be a mapping, not {type(value).__name__}")
    if len(value) > MAX_DETAIL_ITEMS:
        raise AuditRecordError(f"detail has {len(value)} items; the limit is {MAX_DETAIL_ITEMS}")
    out: dict[str, str | int] = {}
    for key, item in value.items():
        _check_text("a detail key", key, MAX_DETAIL_KEY)
        # bool is an int subclass; True would serialize as `true` and break the str|int contract.
        if isinstance(item, bool) or not isinstance(item, str | int):
            raise AuditRecordError(f"detail[{key!r}] must be a string or an integer")
        if isinstance(item, int):
            if abs(item) > MAX_DETAIL_INT:
                raise AuditRecordError(f"detail[{key!r}] is outside +/-(2**53 - 1)")
        else:
            _check_text(f"detail[{key!r}]", item, MAX_DETAIL_VALUE, empty_ok=True)
        out[key] = item
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    """One access decision. Validated on construction; immutable afterwards.

    ``detail`` is stored as a read-only mapping. Use ``AuditRecord.create`` to stamp the time.
    """

    time: str
    principal: str
    action: str
    resource: str
    purpose: str
    decision: Decision
    policy_ids: tuple[str, ...] = ()
    reason: str = ""
    subject: str | None = None
    detail: Mapping[str, str | int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parse_time(self.time)
        _check_text("principal", self.principal, MAX_NAME)
        _check_text("action", self.action, MAX_NAME)
        _check_text("resource", self.resource, MAX_RESOURCE)
        _check_text("purpose", self.purpose, MAX_NAME)
        if self.decision not in DECISIONS:
            raise AuditRecordError("decision must be 'allow' or 'deny'")
        raw_ids: object = self.policy_ids  # typed as a tuple, but callers may pass anything
        if isinstance(raw_ids, str) or not isinstance(raw_ids, Iterable):
            raise AuditRecordError("policy_ids must be a sequence of strings")
        policy_ids = tuple(raw_ids)
        if len(policy_ids) > MAX_POLICY_IDS:
            raise AuditRecordError(f"policy_ids has {len(policy_ids)} items; the limit is {MAX_POLICY_IDS}")
        for pid in policy_ids:
            _check_text("a policy id", pid, MAX_NAME)
        _check_text("reason", self.reason, MAX_REASON, empty_ok=True)
        if self.subject is not None:
            _check_text("subject", self.subject, MAX_NAME)
        detail = _check_detail(self.detail)
        # Frozen dataclass: normalise through object.__setattr__ so callers can pass lists/dicts
        # and still get an immutable record whose later mutation of their inputs changes nothing.
        object.__setattr__(self, "policy_ids", policy_ids)
        object.__setattr__(self, "detail", MappingProxyType(detail))

    def __hash__(self) -> int:
        # The generated hash would fail on the mapping; the canonical bytes identify a record.
        return hash(self.canonical())

    @classmethod
    def create(
        cls,
        *,
        principal: str,
        action: str,
        resource: str,
        purpose: str,
        decision: Decision,
        policy_ids: Iterable[str] = (),
        reason: str = "",
        subject: str | None = None,
        detail: Mapping[str, str | int] | None = None,
        time: datetime | None = None,
    ) -> AuditRecord:
        """A record stamped with ``time`` (default: now, UTC)."""
        if isinstance(policy_ids, str):  # tuple("p-1") would silently become three ids
            raise AuditRecordError("policy_ids must be a sequence of strings")
        return cls(
            time=format_time(time),
            principal=principal,
            action=action,
            resource=resource,
            purpose=purpose,
            decision=decision,
            policy_ids=tuple(policy_ids),
            reason=reason,
            subject=subject,
            detail=detail if detail is not None else {},
        )

    @property
    def when(self) -> datetime:
        """``time`` as an aware UTC datetime."""
        return parse_time(self.time)

    def as_json(self) -> dict[str, Any]:
        """The JSON object behind the canonical bytes (includes the version key ``v``)."""
        return {
            "v": RECORD_VERSION,
            "time": self.time,
            "principal": self.principal,
            "action": self.action,
            "resource": self.resource,
            "purpose": self.purpose,
            "decision": self.decision,
            "policy_ids": list(self.policy_ids),
            "reason": self.reason,
            "subject": self.subject,
            "detail": dict(self.detail),
        }

    def canonical(self) -> bytes:
        """The leaf input: canonical UTF-8 JSON (sorted keys, no whitespace)."""
        return canonical_json(self.as_json())

    @classmethod
    def from_canonical(cls, data: bytes) -> AuditRecord:
        """Parse leaf bytes; anything that is not exactly the canonical form is rejected."""
        try:
            obj = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise AuditRecordError("leaf bytes are not UTF-8 JSON") from None
        if not isinstance(obj, dict) or set(obj) != _KEYS:
            raise AuditRecordError("leaf JSON does not have the audit record keys")
        if obj["v"] != RECORD_VERSION or isinstance(obj["v"], bool):
            raise AuditRecordError(f"unknown audit record version {obj['v']!r}")
        if not isinstance(obj["policy_ids"], list) or not isinstance(obj["detail"], dict):
            raise AuditRecordError("leaf JSON has a malformed policy_ids or detail")
        record = cls(
            time=obj["time"],
            principal=obj["principal"],
            action=obj["action"],
            resource=obj["resource"],
            purpose=obj["purpose"],
            decision=obj["decision"],
            policy_ids=tuple(obj["policy_ids"]),
            reason=obj["reason"],
            subject=obj["subject"],
            detail=obj["detail"],
        )
        # Re-encoding must give the same bytes, or two spellings of one record would exist.
        if record.canonical() != data:
            raise AuditRecordError("leaf bytes are valid JSON but not in canonical form")
        return record


def canonical_json(obj: Any) -> bytes:
    """UTF-8 JSON with sorted keys and no whitespace (the audit log's one canonical encoding)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
