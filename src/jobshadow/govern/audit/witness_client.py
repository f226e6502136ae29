"""Talking to witnesses: submitting checkpoints, reading what they cosigned (log side, verifier).

A witness is named in configuration as ``VERIFIER-KEY URL`` (``WitnessRef.parse``). Every answer
is checked here before it is believed: a cosigned checkpoint must carry a valid signature by the
log's key *and* a valid cosignature by the witness's key; leaf hashes come in whole 32-byte units.
Network failures raise ``WitnessUnavailable``; answers that do not verify ``AuditHeadError``.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass

from jobshadow.errors import WitnessUnavailable as WitnessUnavailable  # defined in the one tree
from jobshadow.govern.audit.errors import AuditError, AuditKeyError
from jobshadow.govern.audit.heads import SignedTreeHead
from jobshadow.govern.audit.merkle import HASH_SIZE
from jobshadow.govern.audit.note import COSIGNATURE_V1, Note, Signature, VerifierKey, parse_note, verify_cosignature
from jobshadow.govern.audit.witness import MAX_LEAVES, Submission
from jobshadow.govern.audit.witness_http import SIZE_TYPE, SUBMIT_PATH

TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class WitnessRef:
    """A configured witness: its cosigning key (name included) and where it listens."""

    vkey: VerifierKey
    url: str

    @property
    def name(self) -> str:
        return self.vkey.name

    @classmethod
    def parse(cls, text: str) -> WitnessRef:
        parts = text.split()
        if len(parts) != 2 or not parts[1].startswith(("http://", "https://")):
            raise AuditKeyError(f"a witness is 'VERIFIER-KEY URL', not {text[:80]!r}")
        vkey = VerifierKey.parse(parts[0])
        if vkey.kind != COSIGNATURE_V1:
            raise AuditKeyError(f"{vkey.name}: a witness's verifier key is a cosignature key (type 4)")
        return cls(vkey, parts[1].rstrip("/"))

    def __str__(self) -> str:
        return f"{self.vkey} {self.url}"


@dataclass(frozen=True, slots=True)
class Cosigned:
    """A witness's latest cosigned checkpoint, both signatures checked."""

    head: SignedTreeHead
    cosigned_at: int
    note: Note


@dataclass(frozen=True, slots=True)
class Answer:
    """What a submission got: a cosignature, or (409) the size the witness holds."""

    cosignature: Signature | None = None
    witness_size: int | None = None


def _request(req: urllib.request.Request, timeout: float) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (http(s) only, WitnessRef.parse)
            return int(resp.status), resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.headers.get("Content-Type", ""), exc.read()
    except (OSError, ValueError) as exc:
        raise WitnessUnavailable(f"witness at {req.full_url} is unreachable: {exc}") from None


def submit(ref: WitnessRef, sub: Submission, timeout: float = TIMEOUT) -> Answer:
    """Ask ``ref`` to cosign; ``WitnessUnavailable`` carries any refusal other than a 409 size."""
    req = urllib.request.Request(ref.url + SUBMIT_PATH, data=sub.encode(), method="POST",  # noqa: S310 http(s)
                                 headers={"Content-Type": "text/plain; charset=utf-8"})
    status, ctype, body = _request(req, timeout)
    if status == 409 and ctype.startswith(SIZE_TYPE):
        text = body.decode("ascii", "replace").strip()
        if text.isdigit():
            return Answer(witness_size=int(text))
    if status != 200:
        raise WitnessUnavailable(f"witness {ref.name} refused the checkpoint (HTTP {status}): "
                                 f"{body[:300].decode('utf-8', 'replace')}")
    try:
        note = parse_note(sub.note_text.rstrip("\n") + "\n" + body.decode("utf-8"))
        verify_cosignature(note, ref.vkey)
    except (AuditError, UnicodeDecodeError) as exc:
        raise WitnessUnavailable(f"witness {ref.name} answered without a valid cosignature: {exc}") from None
    return Answer(cosignature=note.by(ref.vkey)[-1])


def latest(ref: WitnessRef, log_key: VerifierKey, timeout: float = TIMEOUT) -> Cosigned | None:
    """The witness's latest cosigned checkpoint, verified (``None`` if it has cosigned nothing)."""
    status, _, body = _request(urllib.request.Request(ref.url + "/checkpoint"), timeout)  # noqa: S310 http(s)
    if status == 404:
        return None
    if status != 200:
        raise WitnessUnavailable(f"witness {ref.name} answered HTTP {status} for its checkpoint")
    note = parse_note(body)
    head = SignedTreeHead.from_note(note, log_key)
    when = verify_cosignature(note, ref.vkey)
    return Cosigned(head, when, note)


def leaf_hashes(ref: WitnessRef, start: int, end: int, timeout: float = TIMEOUT) -> list[bytes]:
    """The witness's mirrored leaf hashes ``[start, end)``, fetched in pages."""
    out: list[bytes] = []
    pos = start
    while pos < end:
        stop = min(end, pos + MAX_LEAVES)
        req = urllib.request.Request(f"{ref.url}/leaf-hashes?start={pos}&end={stop}")  # noqa: S310 http(s)
        status, _, body = _request(req, timeout)
        if status != 200 or len(body) != (stop - pos) * HASH_SIZE:
            raise WitnessUnavailable(f"witness {ref.name} did not return leaf hashes [{pos}, {stop})")
        out += [body[i : i + HASH_SIZE] for i in range(0, len(body), HASH_SIZE)]
        pos = stop
    return out

