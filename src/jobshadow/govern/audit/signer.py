"""Who signs the log's checkpoints: a key in this process, a key file, or a KMS/HSM (governance).

``HeadSigner`` is the seam: a public key and ``sign(message) -> 64-byte Ed25519 signature``.

* ``KeySigner`` holds an ``Ed25519PrivateKey`` (tests, and the key file below).
* ``file_signer(path)`` loads or creates a 0600 PEM key file: the default, for one machine. Whoever
  can read that file can re-sign a rewritten log; ``govern scan`` warns about it, and only
  witnesses (``jobshadow.govern.audit.witness``) make such a rewrite detectable.
* ``CommandSigner`` runs an external program for every signature, so the key can live in a
  KMS or an HSM that never hands it out. The program is called as ``PROGRAM ARGS public-key``
  (prints the public key as PEM or as 32 raw bytes in base64) and ``PROGRAM ARGS sign`` (reads
  the message on stdin, prints the signature in base64). Every signature it returns is checked
  against its public key before use, so a misbehaving signer fails closed.

``signer_from_spec`` turns the ``[govern] audit_signer`` setting into one of these.
"""

from __future__ import annotations

import base64
import binascii
import os
import shlex
import subprocess
import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from jobshadow.govern.audit.errors import AuditKeyError
from jobshadow.govern.audit.keys import load_or_create_signing_key, load_public_key

SIGN_TIMEOUT = 10.0


@runtime_checkable
class HeadSigner(Protocol):
    """Signs checkpoint texts with one Ed25519 key. Called on the log's publishing thread; may
    block (a KMS round trip) and raises ``AuditKeyError`` when no signature can be had."""

    def public_key(self) -> Ed25519PublicKey:
        """The verifying half (cheap; cached by implementations)."""
        ...

    def sign(self, message: bytes) -> bytes:
        """A 64-byte Ed25519 signature over ``message``."""
        ...


class KeySigner:
    """A private key held in this process."""

    def __init__(self, key: Ed25519PrivateKey, where: str = "memory") -> None:
        self._key = key
        self._public = key.public_key()
        self.where = where

    def public_key(self) -> Ed25519PublicKey:
        return self._public

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"KeySigner({self.where})"


def file_signer(path: str | os.PathLike[str]) -> KeySigner:
    """The key in a 0600 PEM file, created on first use."""
    return KeySigner(load_or_create_signing_key(path), f"file:{os.fspath(path)}")


class CommandSigner:
    """An external program signs (a KMS or HSM client); see the module docstring."""

    def __init__(self, argv: list[str], timeout: float = SIGN_TIMEOUT) -> None:
        if not argv:
            raise AuditKeyError("the audit signer command is empty")
        self.argv = list(argv)
        self.timeout = timeout
        self._lock = threading.Lock()
        self._public = self._load_public()

    def _run(self, verb: str, data: bytes = b"") -> bytes:
        try:
            out = subprocess.run([*self.argv, verb], input=data, capture_output=True, timeout=self.timeout,
                                 check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            raise AuditKeyError(f"the audit signer {self.argv[0]} could not run ({type(exc).__name__})") from None
        if out.returncode != 0:
            why = out.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
            raise AuditKeyError(f"the audit signer {self.argv[0]} {verb} failed: {why[0][:200]}")
        return out.stdout

    def _load_public(self) -> Ed25519PublicKey:
        text = self._run("public-key").strip()
        if text.startswith(b"-----BEGIN"):
            return load_public_key(text)
        try:
            raw = base64.b64decode(text, validate=True)
            return Ed25519PublicKey.from_public_bytes(raw)
        except (ValueError, binascii.Error):
            raise AuditKeyError("the audit signer's public key is neither PEM nor 32 bytes in base64") from None

    def public_key(self) -> Ed25519PublicKey:
        return self._public

    def sign(self, message: bytes) -> bytes:
        with self._lock:
            text = self._run("sign", message).strip()
        try:
            sig = base64.b64decode(text, validate=True)
            self._public.verify(sig, message)
        except (ValueError, binascii.Error, InvalidSignature):
            raise AuditKeyError(f"the audit signer {self.argv[0]} returned an invalid signature") from None
        return sig

    def __repr__(self) -> str:
        return f"CommandSigner({self.argv[0]!r})"


def as_signer(key: HeadSigner | Ed25519PrivateKey) -> HeadSigner:
    return KeySigner(key) if isinstance(key, Ed25519PrivateKey) else key


def signer_from_spec(spec: str, default_path: Path) -> HeadSigner:
    """``""`` (the default key file), ``file:PATH`` or ``command:PROGRAM ARGS``."""
    spec = spec.strip()
    if not spec:
        return file_signer(default_path)
    kind, _, rest = spec.partition(":")
    if kind == "file" and rest:
        return file_signer(Path(rest).expanduser())
    if kind == "command" and rest:
        return CommandSigner(shlex.split(rest))
    raise AuditKeyError(f"[govern] audit_signer {spec!r} is not '', 'file:PATH' or 'command:PROGRAM ARGS'")
