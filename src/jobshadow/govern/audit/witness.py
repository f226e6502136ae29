"""A witness: co-signs the audit log's checkpoints only if they extend what it signed before.

Trust zone: the witness's own machine and state directory, run by someone other than the log's
operator (the DPO, the works council). It trusts one log key (a verifier key given at ``init``)
and nothing the operator stores. Only ``cryptography`` and the standard library are needed.

In the spirit of C2SP tlog-witness, with one deliberate difference: a submission carries the
*leaf hashes* of the new records instead of a consistency proof. The witness appends them to its
own copy of the tree's right edge and cosigns only if that reproduces the checkpoint's root, which
proves the new tree extends the last one it cosigned at least as strongly as a proof would; and it
keeps the hashes (32 bytes per record, a "mirror" in C2SP terms), so a verifier can later learn
the exact first record an operator changed. It never sees record contents.

State directory (0700; ``serve`` holds an exclusive lock on it)::

    witness.pem    the cosigning key (0600)
    witness.json   its name and the log's verifier key (written once, by ``init``)
    state.json     latest cosigned checkpoint (log signature + cosignature) and the tree's edge
    leaves.bin     leaf hashes, 32 bytes each, in log order
    evidence/      signed checkpoints it refused as inconsistent: proof of a log's misbehaviour

``add_checkpoint`` answers like tlog-witness: ``WitnessRefusal`` carries the HTTP status (400
malformed, 403 not signed by the log, 404 another log, 409 the old size is not this witness's,
with its size, or a fork at the same size, 422 inconsistent). Checking the old size and storing
the new state happen under one lock, leaves first and state last, each fsynced, so a crash never
rolls the witness back or leaves it claiming hashes it does not hold.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from jobshadow.errors import WitnessRefusal as WitnessRefusal  # defined in the one tree
from jobshadow.govern.audit.errors import AuditError, AuditHeadError, AuditKeyError, AuditStoreError
from jobshadow.govern.audit.heads import SignedTreeHead
from jobshadow.govern.audit.keys import load_or_create_signing_key, load_signing_key
from jobshadow.govern.audit.merkle import HASH_SIZE, CompactRange
from jobshadow.govern.audit.note import COSIGNATURE_V1, VerifierKey, cosign, parse_note
from jobshadow.home import create_private, write_private

MAX_LEAVES: Final = 32768  # per submission; a log far ahead catches a witness up in steps
MAX_BODY: Final = MAX_LEAVES * 45 + 70_000


@dataclass(frozen=True, slots=True)
class Submission:
    old: int
    leaf_hashes: tuple[bytes, ...]
    note_text: str

    def encode(self) -> bytes:
        lines = [f"old {self.old}\n"] + [base64.b64encode(h).decode("ascii") + "\n" for h in self.leaf_hashes]
        return ("".join(lines) + "\n" + self.note_text).encode()

    @classmethod
    def decode(cls, body: bytes) -> Submission:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise WitnessRefusal(400, "the body is not UTF-8") from None
        head, sep, note = text.partition("\n\n")
        lines = head.split("\n")
        if not sep or not lines[0].startswith("old "):
            raise WitnessRefusal(400, "the body is 'old N', leaf hash lines, a blank line, a checkpoint")
        size_text = lines[0][4:]
        if not size_text.isdigit() or str(int(size_text)) != size_text:
            raise WitnessRefusal(400, "the old size is not a canonical decimal")
        if len(lines) - 1 > MAX_LEAVES:
            raise WitnessRefusal(400, f"at most {MAX_LEAVES} leaf hashes per submission")
        try:
            hashes = tuple(base64.b64decode(line, validate=True) for line in lines[1:])
        except (ValueError, binascii.Error):
            raise WitnessRefusal(400, "a leaf hash line is not base64") from None
        if any(len(h) != HASH_SIZE for h in hashes):
            raise WitnessRefusal(400, f"leaf hashes are {HASH_SIZE} bytes")
        return cls(int(size_text), hashes, note)


class Witness:
    """One witness over its state directory (see the module docstring). Thread-safe."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.dir = Path(directory)
        try:
            meta = json.loads((self.dir / "witness.json").read_text())
            self.name = str(meta["name"])
            self.log_key = VerifierKey.parse(str(meta["log"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise AuditStoreError(f"{self.dir} is not a witness state directory (run `audit witness init`)") \
                from exc
        self._key = load_signing_key(self.dir / "witness.pem")
        self.vkey = VerifierKey(self.name, COSIGNATURE_V1, self._key.public_key())
        self._lock = threading.Lock()
        self._lock_fd: int | None = None
        self._load()

    @classmethod
    def init(cls, directory: str | os.PathLike[str], name: str, log_key: VerifierKey) -> Witness:
        """Create a witness for the log ``log_key``: its key and identity. Refuses an existing one."""
        d = Path(directory)
        if (d / "witness.json").exists():
            raise AuditKeyError(f"{d} already holds a witness")
        VerifierKey(name, COSIGNATURE_V1, log_key.key)  # checks the name
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        (d / "evidence").mkdir(mode=0o700, exist_ok=True)
        load_or_create_signing_key(d / "witness.pem")
        create_private(d / "witness.json", json.dumps({"name": name, "log": str(log_key)}).encode())
        return cls(d)

    def lock(self) -> None:
        """Hold the state directory exclusively: only the holder may ``add_checkpoint``."""
        fd = os.open(self.dir / "witness.json", os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise AuditStoreError(f"another process is serving the witness in {self.dir}") from None
        self._lock_fd = fd

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # --- state ------------------------------------------------------------------------------------
    def _load(self) -> None:
        path = self.dir / "state.json"
        self.size, self.checkpoint, self.cosigned_at = 0, "", 0
        self._edge = CompactRange()
        if path.exists():
            try:
                st = json.loads(path.read_text())
                self.size = int(st["size"])
                self._edge = CompactRange(self.size, [base64.b64decode(h) for h in st["edge"]])
                self.checkpoint, self.cosigned_at = str(st["checkpoint"]), int(st["cosigned_at"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise AuditStoreError(f"{path} is damaged") from exc
        leaves = self.dir / "leaves.bin"
        held = leaves.stat().st_size // HASH_SIZE if leaves.exists() else 0
        if held < self.size:
            raise AuditStoreError(f"{leaves} holds {held} leaf hashes, the state says {self.size}")

    def _save(self, new_hashes: tuple[bytes, ...], edge: CompactRange, checkpoint: str, cosigned_at: int) -> None:
        if new_hashes:
            fd = os.open(self.dir / "leaves.bin", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.ftruncate(fd, self.size * HASH_SIZE)  # drop hashes of an update that never completed
                os.write(fd, b"".join(new_hashes))
                os.fsync(fd)
            finally:
                os.close(fd)
        state = {"size": edge.size, "edge": [base64.b64encode(h).decode() for h in edge.hashes()],
                 "checkpoint": checkpoint, "cosigned_at": cosigned_at}
        write_private(self.dir / "state.json", json.dumps(state).encode())
        self.size, self._edge, self.checkpoint, self.cosigned_at = edge.size, edge, checkpoint, cosigned_at

    def _evidence(self, body: str, why: str) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = self.dir / "evidence" / f"{stamp}-{time.time_ns() % 10**9:09d}.txt"
        path.parent.mkdir(mode=0o700, exist_ok=True)
        write_private(path, f"refused: {why}\n\n{body}".encode())

    # --- the protocol -----------------------------------------------------------------------------
    def add_checkpoint(self, body: bytes) -> str:
        """Check a submission and return this witness's cosignature line (see the module docstring)."""
        sub = Submission.decode(body)
        try:
            note = parse_note(sub.note_text)
        except AuditHeadError as exc:
            raise WitnessRefusal(400, f"the checkpoint is malformed: {exc}") from None
        if note.text.split("\n", 1)[0] != self.log_key.name:
            raise WitnessRefusal(404, "this witness does not witness that log")
        try:
            head = SignedTreeHead.from_note(note, self.log_key)
        except AuditError as exc:
            raise WitnessRefusal(403, f"the checkpoint is not signed by the log: {exc}") from None
        if sub.old > head.tree_size:
            raise WitnessRefusal(400, "the old size is larger than the checkpoint's")
        with self._lock:
            if self._lock_fd is None:
                raise AuditStoreError("the witness state is not locked by this process (call lock())")
            if sub.old != self.size:
                raise WitnessRefusal(409, f"this witness has cosigned size {self.size}", self.size)
            if len(sub.leaf_hashes) != head.tree_size - sub.old:
                raise WitnessRefusal(400, f"expected {head.tree_size - sub.old} leaf hashes")
            edge = self._edge.copy()
            for h in sub.leaf_hashes:
                edge.append(h)
            if edge.root() != head.root_hash:
                why = (f"size {head.tree_size} forks from the size {self.size} this witness cosigned"
                       if head.tree_size == self.size else
                       f"the leaves do not extend size {self.size} to the checkpoint's root")
                self._evidence(sub.note_text, why)
                raise WitnessRefusal(409 if head.tree_size == self.size else 422, why)
            now = int(time.time())
            line = cosign(self.name, self._key, note.text, now).line()
            log_line = note.by(self.log_key)[0].line()
            self._save(sub.leaf_hashes, edge, note.text + "\n" + log_line + line, now)
            return line

    def latest(self) -> str | None:
        """The latest cosigned checkpoint as a note (log signature and cosignature), if any."""
        with self._lock:
            return self.checkpoint or None

    def leaf_hashes(self, start: int, end: int) -> bytes:
        """Mirrored leaf hashes ``[start, end)``, concatenated; at most ``MAX_LEAVES`` at once."""
        with self._lock:
            size = self.size
        if not 0 <= start <= end <= size or end - start > MAX_LEAVES:
            raise WitnessRefusal(400, f"ask for at most {MAX_LEAVES} leaves within [0, {size})")
        if start == end:
            return b""
        with (self.dir / "leaves.bin").open("rb") as fh:
            fh.seek(start * HASH_SIZE)
            return fh.read((end - start) * HASH_SIZE)

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {"name": self.name, "verifier_key": str(self.vkey), "log": str(self.log_key),
                    "size": self.size, "root": base64.b64encode(self._edge.root()).decode(),
                    "cosigned_at": self.cosigned_at, "state": str(self.dir),
                    "evidence": len(list((self.dir / "evidence").glob("*.txt")))
                    if (self.dir / "evidence").exists() else 0}

