"""Ed25519 keys that sign audit tree heads (curated zone / governance).

The private key lives in one PKCS#8 PEM file, mode 0600, created atomically (temporary file, fsync,
hard link into place) so a crash never leaves a half-written key and two processes racing to
create it end up sharing one. A key file readable by group or others is refused, the way ssh
refuses such keys. Verifiers need only the public key: SubjectPublicKeyInfo PEM, or its ``key_id``
(first 16 bytes of SHA-256 over the raw 32-byte key, hex) to tell keys apart.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from jobshadow.govern.audit.errors import AuditKeyError
from jobshadow.home import create_private


def key_id(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """A short public fingerprint of a key pair (never secret)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:32]


def public_key_pem(key: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    """The public half as SubjectPublicKeyInfo PEM, for handing to verifiers."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """Parse a SubjectPublicKeyInfo PEM produced by ``public_key_pem``."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise AuditKeyError("not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AuditKeyError("the public key is not an Ed25519 key")
    return key


def read_public_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    """Load a public key PEM file."""
    try:
        return load_public_key(Path(path).read_bytes())
    except OSError as exc:
        raise AuditKeyError(f"cannot read public key {os.fspath(path)}: {exc.strerror}") from exc


def load_signing_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Load an existing private key file; refuse it if group or others can read it."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            mode = os.fstat(fh.fileno()).st_mode
            data = fh.read()
    except OSError as exc:
        raise AuditKeyError(f"cannot read signing key {p}: {exc.strerror}") from exc
    if stat.S_IMODE(mode) & 0o077:
        raise AuditKeyError(f"signing key {p} is accessible to group or others; run chmod 600 on it")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise AuditKeyError(f"signing key {p} is not an unencrypted PKCS#8 PEM key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditKeyError(f"signing key {p} is not an Ed25519 key")
    return key


def load_or_create_signing_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Load the key at ``path``, creating a new one (mode 0600) if there is none."""
    p = Path(path)
    if p.exists():
        return load_signing_key(p)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        p.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Never replaces a key a concurrent creator made first: whichever exists is loaded.
        create_private(p, pem)
    except OSError as exc:
        raise AuditKeyError(f"cannot create signing key {p}: {exc.strerror}") from exc
    return load_signing_key(p)
