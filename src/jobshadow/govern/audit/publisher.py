"""Publishing checkpoints: signed at least every few seconds, copied out, sent to witnesses.

Trust zone: the process that appends to the audit log (the door, the collector, a CLI command).
``HeadPublisher`` owns one background thread. Writers call ``appended`` after each durable
append (it never blocks and never raises), and the thread also notices records that another
process appended without signing (the collector holds no key); at most ``interval`` seconds
later it signs a head, stores it in the log, writes a copy to the heads directory (``<size>-<time>.json``), and
sends it to every witness with the leaf hashes the witness lacks. A witness's cosignature is added
to ``<size>-<time>.note`` beside the copy, so anyone holding only the witnesses' keys can check
it. ``close`` publishes whatever is left and pushes it once more, within its deadline.

Failing closed: when a head cannot be signed or stored, ``failing`` is set and the next writer
must call ``publish`` itself; its ``AuditWriteError`` makes the door refuse the access. An
unreachable witness only delays its cosignature: it is retried with backoff (up to a minute), and
a witness that restarts or is shared by several log processes is caught up from the size it
reports (HTTP 409), in steps of ``MAX_LEAVES`` records signed for it on the way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from jobshadow.govern.audit.errors import AuditError, AuditHeadError, AuditWriteError
from jobshadow.govern.audit.heads import SignedTreeHead, log_verifier_key
from jobshadow.govern.audit.note import Note, Signature, parse_note
from jobshadow.govern.audit.store import AuditLog
from jobshadow.govern.audit.witness import MAX_LEAVES, Submission
from jobshadow.govern.audit.witness_client import WitnessRef, WitnessUnavailable, latest, submit
from jobshadow.home import write_private

log = logging.getLogger(__name__)
MAX_BACKOFF = 60.0


def head_path(directory: Path, head: SignedTreeHead, suffix: str = ".json") -> Path:
    stamp = head.timestamp.replace(":", "").replace("-", "").replace(".", "")
    return directory / f"{head.tree_size:012d}-{stamp}{suffix}"


def write_copy(directory: Path, head: SignedTreeHead) -> None:
    """The head's JSON copy outside the database (never overwritten)."""
    path = head_path(directory, head)
    if not path.exists():
        write_private(path, head.to_json().encode())


def published(directory: Path) -> tuple[list[SignedTreeHead], list[str]]:
    """The published heads (by size, then time) and a message for every file that is not one."""
    heads: list[SignedTreeHead] = []
    problems: list[str] = []
    if not directory.exists():
        return heads, problems
    for path in sorted(directory.glob("*.json")):
        try:
            heads.append(SignedTreeHead.from_json(path.read_bytes()))
        except (AuditError, OSError) as exc:
            problems.append(f"{path.name}: {exc}")
    heads.sort(key=lambda h: (h.tree_size, h.timestamp))
    return heads, problems


class _Peer:
    def __init__(self, ref: WitnessRef) -> None:
        self.ref = ref
        self.size: int | None = None  # what this witness last said it holds (None: not asked yet)
        self.retry_at = 0.0
        self.backoff = 0.0


class HeadPublisher:
    """Signs, copies and witnesses heads of one ``AuditLog``. Thread-safe; see the module docstring."""

    def __init__(self, log_: AuditLog, directory: Path, witnesses: Sequence[WitnessRef] = (), *,
                 interval: float = 2.0, timeout: float = 5.0) -> None:
        self.log = log_
        self.directory = directory
        self.interval = interval
        self.timeout = timeout
        self.failing = False
        self._peers = [_Peer(w) for w in witnesses]
        self._pending = 0
        self._count = threading.Lock()
        self._latest: SignedTreeHead | None = None
        self._lock = threading.Lock()  # one publication at a time
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-heads", daemon=True)
        self._thread.start()

    # --- writers ----------------------------------------------------------------------------------
    def appended(self, count: int) -> None:
        """``count`` records were durably appended; a head will cover them within ``interval``."""
        with self._count:
            self._pending += count
        self._wake.set()

    def publish(self) -> SignedTreeHead:
        """Sign, store and copy a head now, then push it. Raises ``AuditWriteError`` (fail closed)."""
        with self._lock:
            pending = self._pending
            try:
                head = self.log.publish_head()
                write_copy(self.directory, head)
            except (AuditError, OSError) as exc:
                self.failing = True
                if isinstance(exc, AuditWriteError):
                    raise
                raise AuditWriteError(f"the audit head could not be published: {exc}") from exc
            self.failing = False
            with self._count:
                self._pending = max(0, self._pending - pending)
            self._latest = head
            self._push(head, force=True)
            return head

    def close(self, timeout: float = 5.0) -> None:
        """Publish what is left and push it once more; stop the thread. Idempotent."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        if self._pending:
            try:
                self.publish()
            except AuditError as exc:
                log.error("the last audit head could not be published: %s", exc)

    # --- the thread -------------------------------------------------------------------------------
    def _run(self) -> None:
        last = 0.0
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            if self._stop.is_set():
                return
            self._wake.clear()
            try:
                # Records appended here, or by another process that signs nothing (the collector).
                due = bool(self._pending) or self._unsigned()
                if not due and not self._behind():
                    continue
                wait = last + self.interval - time.monotonic()
                if wait > 0 and self._stop.wait(wait):
                    return
                last = time.monotonic()
                if due:
                    self.publish()
                elif self._latest is not None:
                    with self._lock:
                        self._push(self._latest, force=False)
            except Exception as exc:  # a thread boundary: log, keep going (writers see `failing`)
                log.error("audit head publication failed: %s", exc)

    def _unsigned(self) -> bool:
        head = self.log.latest_head()
        return self.log.size > (head.tree_size if head is not None else 0)

    def _behind(self) -> bool:
        latest = self._latest
        return latest is not None and any(p.size is None or p.size < latest.tree_size for p in self._peers)

    # --- witnesses --------------------------------------------------------------------------------
    def _push(self, head: SignedTreeHead, *, force: bool) -> None:
        cosigs: list[Signature] = []
        for peer in self._peers:
            if not force and time.monotonic() < peer.retry_at:
                continue
            try:
                sig = self._catch_up(peer, head)
            except (WitnessUnavailable, AuditError) as exc:
                peer.backoff = min(MAX_BACKOFF, max(self.interval, peer.backoff * 2))
                peer.retry_at = time.monotonic() + peer.backoff
                log.warning("witness %s: %s", peer.ref.name, exc)
                continue
            peer.backoff, peer.retry_at = 0.0, 0.0
            if sig is not None:
                cosigs.append(sig)
        if cosigs:
            self._save_cosignatures(head, cosigs)

    def _catch_up(self, peer: _Peer, head: SignedTreeHead) -> Signature | None:
        """Bring ``peer`` to ``head``: its cosignature of ``head``, or None if it is already past it."""
        public = self.log.public_key
        assert public is not None  # a publishing log has a signer
        if peer.size is None:
            seen = latest(peer.ref, log_verifier_key(public), self.timeout)
            peer.size = seen.head.tree_size if seen is not None else 0
        for _ in range(64):
            size = peer.size
            if size > head.tree_size:
                return None
            target = head
            if head.tree_size - size > MAX_LEAVES:
                target = self.log.sign_head(size + MAX_LEAVES)  # a step, signed for this witness
            hashes = tuple(self.log.leaf_hashes(size, target.tree_size))
            note = target.to_note(public).render()
            answer = submit(peer.ref, Submission(size, hashes, note), self.timeout)
            if answer.witness_size is not None:
                if answer.witness_size == size:
                    raise WitnessUnavailable("it reports the size it was sent as a conflict: a fork")
                peer.size = answer.witness_size
                continue
            peer.size = target.tree_size
            if target is head:
                return answer.cosignature
        raise WitnessUnavailable("it did not catch up within 64 submissions")

    def _save_cosignatures(self, head: SignedTreeHead, cosigs: list[Signature]) -> None:
        public = self.log.public_key
        assert public is not None
        path = head_path(self.directory, head, ".note")
        note = head.to_note(public)
        try:
            if path.exists():
                note = parse_note(path.read_text())
        except (OSError, AuditHeadError):
            pass
        known = {s.line() for s in note.signatures}
        extra = tuple(s for s in cosigs if s.line() not in known)
        try:
            write_private(path, Note(note.text, note.signatures + extra).render().encode())
        except OSError as exc:
            log.warning("cosigned checkpoint %s could not be written: %s", path.name, exc.strerror)
