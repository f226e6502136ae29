"""The exception tree shared by every stage (all trust zones).

Catch broadly only at thread and request boundaries; everywhere else catch the narrowest class.
Messages are one sentence a person can act on; they never contain captured content (typed text,
screen text, titles, URLs) because they end up in logs and on terminals.

    JobshadowError
    ├── ConfigError            the TOML file or an environment override is invalid
    ├── StateError             the JOBSHADOW_HOME tree is unusable or locked by another recorder
    ├── CaptureError           capture cannot start or continue
    │   └── DisplayError       no display, a Wayland session, or a missing X extension
    ├── ConsentError           nothing may be captured: no consent, withdrawn, or nothing in scope
    ├── ControlError           the recorder's control socket cannot be reached or refused a command
    ├── SegmentError           a segment cannot be written or read
    │   ├── SegmentNotFound    no segment matches the given path or id
    │   └── SpoolCorrupt       a segment is tampered with, truncated or not a segment at all
    │       ├── Truncated      the file stops early (crashed writer, partial copy)
    │       └── WrongKey       the segment was sealed with another key
    ├── InputError             user-supplied input (CLI argument, stdin) is malformed or too large
    ├── RequestRejected        the collector refused a request: HTTP status + machine-readable code
    └── UploadError            the device could not deliver a segment
        └── UploadRejected     the collector refused it for good (4xx): the segment is quarantined
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


class UploadError(JobshadowError):
    """A segment could not be delivered (yet)."""


class UploadRejected(UploadError):
    """The collector refused a segment for good; it goes to quarantine, never back into the loop."""
