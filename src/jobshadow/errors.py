"""The exception tree: every exception jobshadow raises on purpose, in one place (all trust zones).

Catch broadly only at thread and request boundaries; everywhere else catch the narrowest class.
Messages are one sentence a person can act on; they never contain captured content (typed text,
screen text, titles, URLs) because they end up in logs and on terminals. The modules that raise
a class re-export it under its old name (``jobshadow.govern`` exports the door's).

    JobshadowError
    ├── ConfigError              the TOML file or an environment override is invalid (and, today,
    │   │                        a query the door does not run: see below)
    │   ├── ResultTooLarge       a query's result is larger than the caller allowed
    │   └── QueryStopped         a query was stopped before it finished (time, memory, client gone)
    ├── StateError               the JOBSHADOW_HOME tree is unusable or locked by another recorder
    ├── CaptureError             capture cannot start or continue
    │   └── DisplayError         no display, a Wayland session, or a missing X extension
    ├── ConsentError             nothing may be captured: no consent, withdrawn, or nothing in scope
    ├── ControlError             the recorder's control socket cannot be reached or refused a command
    ├── SegmentError             a segment cannot be written or read
    │   ├── SegmentNotFound      no segment matches the given path or id
    │   └── SpoolCorrupt         a segment is tampered with, truncated or not a segment at all
    │       ├── Truncated        the file stops early (crashed writer, partial copy)
    │       └── WrongKey         the segment was sealed with another key
    ├── RecordSpecError          a record field does not say how it is curated (a programming error)
    ├── WriterClosed             the collector's database writer stopped; the operation did not run
    ├── InputError               user-supplied input (CLI argument, stdin) is malformed or too large
    ├── RequestRejected          a server refused a request: HTTP status + machine-readable code
    ├── Transient                the other side is unreachable or asked to come back later: retry
    ├── PolicyDenied             the governance policy refused an access; nothing was read or written
    │   └── NotAuthenticated     the request was not validly signed by a registered principal
    ├── KeyUnavailable           a person's data key is gone (erased) or never existed
    ├── IntegrityFailure         a sealed value failed authentication (tampered or moved)
    ├── DetectorFailed           a secret/PII detector raised: the text counts as unscanned
    ├── RedactionFailed          a frame could not be redacted: it is withheld
    └── AuditError               base of everything the audit log raises on purpose
        ├── AuditRecordError     a record field is invalid (type, length, enum, control chars)
        ├── AuditStoreError      the log file cannot be opened or read, or its schema is unknown
        │   ├── AuditWriteError  an append or head publication did not become durable: DENY access
        │   └── AuditCorruptError stored data needed for an answer is missing or inconsistent
        ├── AuditProofError      a proof is malformed, out of range, or does not verify
        ├── AuditHeadError       a signed tree head is malformed, forged, or from another key
        ├── AuditKeyError        the signing key cannot be loaded or created, or is exposed
        ├── WitnessUnavailable   a witness could not be reached, or answered with an error
        └── WitnessRefusal       a witness will not cosign (HTTP status, its size on 409)

Bad requests to the governance door (SQL it does not run, unknown tables or columns, a failed
conversion) are still ``ConfigError`` today, and tests and HTTP mappings rely on it; they are to
become ``InputError`` (issue 13).
"""

from __future__ import annotations


class JobshadowError(Exception):
    """Base of every error jobshadow raises on purpose."""

    # Set once a refusal is in the governance audit log, so the request layer records it once.
    audited: bool = False


class ConfigError(JobshadowError):
    """The configuration file or an environment override is invalid."""


class StateError(JobshadowError):
    """The state directory cannot be used (permissions, lock held by another process)."""


class CaptureError(JobshadowError):
    """Capture cannot start or continue."""


class DisplayError(CaptureError):
    """No usable X11 display: unset DISPLAY, Wayland, unreachable server, missing extension."""


class ConsentError(JobshadowError):
    """Capture is not allowed right now: no consent, consent withdrawn, or nothing in scope."""


class ControlError(JobshadowError):
    """The recorder's control socket cannot be reached or refused a command."""


class SegmentError(JobshadowError):
    """A segment cannot be written or read."""


class SegmentNotFound(SegmentError):
    """No segment matches the given path or id."""


class SpoolCorrupt(SegmentError):
    """A segment is truncated, tampered with, or not a segment at all."""


class Truncated(SpoolCorrupt):
    """The file stops early: its writer crashed or the copy is partial. The prefix may be recoverable."""


class WrongKey(SpoolCorrupt):
    """The segment was sealed with a different key than the one available."""


class InputError(JobshadowError):
    """User-supplied input is malformed, hostile or too large."""


class RequestRejected(JobshadowError):
    """The collector refused a request; ``status`` is the HTTP status, ``code`` machine-readable."""

    def __init__(self, status: int, code: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"RequestRejected(status={self.status}, code={self.code!r}, message={str(self)!r})"


class Transient(JobshadowError):
    """The collector could not be reached, or asked us to come back later (``retry_after`` seconds).

    Retried with the shared backoff policy (``jobshadow.backoff``), never treated as final.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"Transient({str(self)!r}, retry_after={self.retry_after!r})"


class ResultTooLarge(ConfigError):
    """A query's result is larger than the caller allowed."""


class QueryStopped(ConfigError):
    """A query was stopped before it finished; ``code`` says why (the HTTP error code)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class WriterClosed(JobshadowError, RuntimeError):
    """The collector's database writer was stopped; the operation was not run."""


class RecordSpecError(JobshadowError, TypeError):
    """A record field does not say how it is curated, or two records disagree about a column."""


class PolicyDenied(JobshadowError):
    """The policy refused an access; nothing was read or written."""


class NotAuthenticated(PolicyDenied):
    """A request to the door was not (validly) signed by a registered principal; ``code`` says how
    (``unsigned``, ``stale_request``, ``unknown_principal``, ``bad_signature``, ``replayed_request``)."""

    def __init__(self, message: str, *, code: str = "not_authenticated") -> None:
        super().__init__(message)
        self.code = code


class KeyUnavailable(JobshadowError):
    """The subject's data key is gone (erased) or never existed: the data cannot be read."""


class IntegrityFailure(JobshadowError):
    """A sealed value failed authentication (tampered, or moved to another subject/column)."""


class DetectorFailed(JobshadowError):
    """A detector raised; with ``strict`` the caller treats the text as unscanned."""


class RedactionFailed(JobshadowError):
    """A frame could not be redacted (OCR error or timeout, detector failure): withhold it."""


class AuditError(JobshadowError):
    """Base of every error the audit log raises on purpose (messages name indices, sizes and key ids)."""


class AuditRecordError(AuditError):
    """An audit record field has the wrong type, is too long, or is not an allowed value."""


class AuditStoreError(AuditError):
    """The audit log file cannot be opened or read, or it has an unknown schema."""


class AuditWriteError(AuditStoreError):
    """An append or head publication did not become durable; nothing of it was stored.

    Callers that gate access on the audit trail must deny the access when they see this.
    """


class AuditCorruptError(AuditStoreError):
    """Stored data that an answer needs is missing or inconsistent; run ``verify_log``."""


class AuditProofError(AuditError):
    """A proof is malformed or out of range, or it does not verify against the given roots."""


class AuditHeadError(AuditError):
    """A signed tree head is malformed, its signature is invalid, or another key signed it."""


class AuditKeyError(AuditError):
    """The head-signing key cannot be loaded or created, or its file is readable by others."""


class WitnessUnavailable(AuditError):
    """The witness could not be reached, or answered with an error it should not have."""


class WitnessRefusal(AuditError):
    """The witness will not cosign; ``status`` is the HTTP answer, ``size`` its size on 409."""

    def __init__(self, status: int, message: str, size: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.size = size
