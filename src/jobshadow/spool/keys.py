"""The device's spool key: where it lives and how it is created (device trust zone).

The key is 32 random bytes. It is kept in the desktop's Secret Service keyring when one answers
(GNOME Keyring, KWallet), else in ``JOBSHADOW_HOME/keys/spool.key`` with mode 0600. The key never
appears in logs, errors or ``repr``.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import stat
from pathlib import Path
from typing import Literal

from jobshadow.errors import StateError
from jobshadow.home import Home, write_private

log = logging.getLogger(__name__)

KEY_FILE = "spool.key"
_SERVICE = "jobshadow"


class SpoolKey:
    """A 32-byte key with a masked repr."""

    __slots__ = ("_raw", "source")

    def __init__(self, raw: bytes, source: str) -> None:
        if len(raw) != 32:
            raise StateError("the spool key is damaged (wrong length)")
        self._raw = raw
        self.source = source

    def reveal(self) -> bytes:
        return self._raw

    def __repr__(self) -> str:
        return f"SpoolKey(source={self.source!r}, key=***)"


def _secret_service_available() -> bool:
    # Without a session bus there is no Secret Service; skip importing keyring's D-Bus stack.
    return bool(os.environ.get("DBUS_SESSION_BUS_ADDRESS"))


def _keyring_get(account: str) -> str | None:
    import keyring
    from keyring.errors import KeyringError

    try:
        backend = keyring.get_keyring()
        if "SecretService" not in type(backend).__name__ and "kwallet" not in type(backend).__module__.lower():
            return None
        return keyring.get_password(_SERVICE, account)
    except (KeyringError, RuntimeError, OSError):
        return None


def _keyring_set(account: str, value: str) -> bool:
    import keyring
    from keyring.errors import KeyringError

    try:
        backend = keyring.get_keyring()
        if "SecretService" not in type(backend).__name__ and "kwallet" not in type(backend).__module__.lower():
            return False
        keyring.set_password(_SERVICE, account, value)
        return True
    except (KeyringError, RuntimeError, OSError):
        return False


def load_spool_key(home: Home, mode: Literal["auto", "file"] = "auto", *, create: bool = True) -> SpoolKey:
    """Return this home's spool key, creating it on first use when ``create`` is set."""
    home.ensure()
    account = f"spool:{home.root}"
    path = home.keys_dir / KEY_FILE
    if mode == "auto" and _secret_service_available() and not path.exists():
        stored = _keyring_get(account)
        if stored is not None:
            return SpoolKey(base64.b64decode(stored), "secret-service")
        if create:
            raw = os.urandom(32)
            if _keyring_set(account, base64.b64encode(raw).decode()):
                return SpoolKey(raw, "secret-service")
    if path.exists():
        return SpoolKey(_read_key_file(path), "file")
    if not create:
        raise StateError(f"no spool key in {home.root}; nothing was recorded with this JOBSHADOW_HOME")
    raw = os.urandom(32)
    write_private(path, base64.b64encode(raw) + b"\n")
    return SpoolKey(raw, "file")


def _read_key_file(path: Path) -> bytes:
    st = path.stat()
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise StateError(f"{path} is readable by other users; fix with: chmod 600 {path}")
    try:
        return base64.b64decode(path.read_bytes().strip(), validate=True)
    except ValueError:
        raise StateError(f"{path} is damaged (not base64)") from None


def forget_spool_key(home: Home) -> None:
    """Destroy the key (crypto-shreds every segment sealed with it)."""
    path = home.keys_dir / KEY_FILE
    if path.exists():
        # Overwrite before unlinking: cheap, and defeats a plain undelete of the file.
        size = path.stat().st_size
        with path.open("r+b") as fh:
            fh.write(os.urandom(max(size, 64)))
            fh.flush()
            os.fsync(fh.fileno())
        path.unlink()
    if _secret_service_available():
        with contextlib.suppress(Exception):
            import keyring

            keyring.delete_password(_SERVICE, f"spool:{home.root}")
