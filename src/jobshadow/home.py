"""The layout of the state directory ``JOBSHADOW_HOME`` (device trust zone).

Everything a recorder keeps — spool, keys, control socket, logs, consent — lives under one
directory created with mode 0700, so two recorders with different homes never share a file, a
socket or a lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jobshadow.durable import fsync_path
from jobshadow.errors import StateError


@dataclass(frozen=True)
class Home:
    root: Path

    @property
    def spool_dir(self) -> Path:
        return self.root / "spool"

    @property
    def segments_dir(self) -> Path:
        return self.root / "spool" / "segments"

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def control_socket(self) -> Path:
        return self.run_dir / "control.sock"

    @property
    def lock_file(self) -> Path:
        return self.run_dir / "recorder.lock"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    def ensure(self) -> Home:
        """Create the tree with owner-only permissions; refuse a tree others can write to."""
        for d in (self.root, self.spool_dir, self.segments_dir, self.keys_dir, self.run_dir,
                  self.log_dir, self.state_dir):
            try:
                d.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as exc:
                raise StateError(f"cannot create {d}: {exc.strerror}") from None
            st = d.stat()
            if st.st_uid != os.getuid():
                raise StateError(f"{d} belongs to another user; refusing to use it")
            if stat.S_IMODE(st.st_mode) & 0o077:
                os.chmod(d, 0o700)
        return self

    @contextlib.contextmanager
    def recorder_lock(self) -> Iterator[None]:
        """Hold the single-recorder lock of this home for the duration of the block."""
        self.ensure()
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise StateError(
                        f"another recorder is running with JOBSHADOW_HOME={self.root}; "
                        "stop it with `jobshadow record stop`"
                    ) from None
                raise
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            yield
        finally:
            os.close(fd)

    def recorder_running(self) -> bool:
        """True when some process holds the recorder lock of this home."""
        if not self.lock_file.exists():
            return False
        fd = os.open(self.lock_file, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)
        return False


def create_private(path: Path, data: bytes) -> None:
    """Create ``path`` (mode 0600) holding ``data`` unless it exists; never replaces it.

    For keys made on first use: two processes starting at once (collector workers, an admin
    command beside the server) must end up with one key, not each with its own. ``link`` fails
    when the name exists, so the first complete file wins and the others read it.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    except OSError:  # a filesystem without hard links: a narrower window, no worse than before
        if not path.exists():
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    fsync_path(path.parent)


def write_private(path: Path, data: bytes) -> None:
    """Atomically write ``data`` to ``path`` with mode 0600 (temp file + fsync + rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_path(path.parent)
