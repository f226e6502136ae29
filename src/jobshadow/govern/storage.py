"""The one door to stored data: the Iceberg catalog, the object store and the server's keys.

Curated and landing zones. No other module opens a catalog, an object store or a key file; they
ask this one (an architecture test enforces it). Embedded defaults live under
``JOBSHADOW_HOME/server``: a SQLite SQL catalog, a local warehouse folder and a local object-store
folder. At scale the same code takes URLs: a PostgreSQL catalog, ``s3://`` object storage (with
s3fs installed), read by Spark, Trino or DuckDB through the same Iceberg tables.
"""

from __future__ import annotations

import os
import threading
from functools import cached_property
from pathlib import Path
from typing import Any

import fsspec

from jobshadow.config import Settings
from jobshadow.crypto.recipients import Recipient
from jobshadow.durable import fsync_path
from jobshadow.errors import StateError
from jobshadow.govern.locks import TableLocks
from jobshadow.home import create_private


class ServerPaths:
    def __init__(self, home: Path) -> None:
        self.root = home / "server"

    def ensure(self) -> ServerPaths:
        for d in (self.root, self.keys, self.staging, self.objects, self.warehouse):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    @property
    def objects(self) -> Path:
        return self.root / "objects"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse"

    @property
    def control_db(self) -> Path:
        return self.root / "control.db"

    @property
    def catalog_db(self) -> Path:
        return self.root / "catalog.db"

    @property
    def audit_db(self) -> Path:
        return self.root / "audit.db"

    @property
    def keys_db(self) -> Path:
        return self.root / "keys" / "subjects.db"


class Storage:
    """Opens things lazily and once; thread-safe."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.paths = ServerPaths(settings.home).ensure()
        self._lock = threading.Lock()

    # --- control-plane database URL (the service owns the schema) -------------------------------
    @property
    def database_url(self) -> str:
        return self.database_url_of(self.settings)

    @staticmethod
    def database_url_of(settings: Settings) -> str:
        """The control database's URL (its folder created, for the embedded default)."""
        return settings.server.database_url or f"sqlite:///{ServerPaths(settings.home).ensure().control_db}"

    # --- Iceberg -----------------------------------------------------------------------------------
    @cached_property
    def catalog(self) -> Any:
        from pyiceberg.catalog.sql import SqlCatalog

        s = self.settings.server
        uri = s.catalog_url or f"sqlite:///{self.paths.catalog_db}"
        warehouse = s.warehouse_url or self.paths.warehouse.as_uri()
        with self._lock:
            return SqlCatalog("jobshadow", uri=uri, warehouse=warehouse)

    @cached_property
    def table_locks(self) -> TableLocks:
        """Commits and scans share a table; a purge has it alone (see ``govern.locks``)."""
        return TableLocks(self.paths.root / "locks")

    # --- object store -------------------------------------------------------------------------------
    @cached_property
    def object_store(self) -> ObjectStore:
        url = self.settings.server.object_store_url or self.paths.objects.as_uri()
        return ObjectStore(url)

    def filesystem(self, url: str) -> tuple[Any, str]:
        """(fsspec filesystem, path) for a warehouse or object-store URL."""
        fs, path = fsspec.core.url_to_fs(url)
        return fs, str(path)

    # --- keys ---------------------------------------------------------------------------------------
    @cached_property
    def landing_recipient(self) -> Recipient:
        """The landing service's X25519 key: devices seal uploads to its public half."""
        path = self.paths.keys / "landing.key"
        with self._lock:
            if not path.exists():
                create_private(path, Recipient.generate().private_raw())
            raw = _read_private(path)
        if len(raw) != 32:
            raise StateError(f"{path} is damaged")
        return Recipient.from_raw(raw)

    @property
    def audit_key_path(self) -> Path:
        return self.paths.keys / "audit-signing.pem"

    @property
    def audit_heads_dir(self) -> Path:
        configured = self.settings.govern.audit_heads_dir
        path = Path(configured) if configured else self.paths.root / "audit-heads"
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return path

    @property
    def kek_path(self) -> Path:
        configured = self.settings.govern.kek_file
        return Path(configured) if configured else self.paths.keys / "kek.key"

    @cached_property
    def pseudonym_key(self) -> bytes:
        """The secret that turns a person id into their pseudonymous subject id (HMAC)."""
        path = self.paths.keys / "pseudonym.key"
        with self._lock:
            if not path.exists():
                create_private(path, os.urandom(32))
            raw = _read_private(path)
        if len(raw) != 32:
            raise StateError(f"{path} is damaged")
        return raw


class ObjectStore:
    """Blobs by opaque name, through fsspec (a local folder by default, S3 and friends by URL)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.url)
        self._local = getattr(self.fs, "protocol", None) in ("file", ("file", "local"))
        if self._local:
            Path(self.root).mkdir(mode=0o700, parents=True, exist_ok=True)

    def uri(self, name: str) -> str:
        return f"{self.url}/{name}"

    def put_file(self, local: Path, name: str, *, immutable: bool = False) -> str:
        """Store a local file under ``name`` durably (fsync on local stores); idempotent.

        ``immutable``: the caller never changes ``local`` again and has already fsynced it (a
        verified upload), so a local store on the same filesystem hard-links it instead of
        copying: the bytes are written to disk once, not twice.
        """
        dest = f"{self.root}/{name}"
        if not self._local:
            self.fs.put_file(str(local), dest)
            return self.uri(name)
        d = Path(dest)
        d.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = d.with_name(f"{d.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.unlink(missing_ok=True)
        linked = False
        if immutable:
            try:
                os.link(local, tmp)
                linked = True
            except OSError:  # another filesystem, or links not allowed: copy instead
                pass
        if not linked:
            with local.open("rb") as src, open(tmp, "wb") as dst:
                while chunk := src.read(4 * 2**20):
                    dst.write(chunk)
                dst.flush()
                os.fsync(dst.fileno())
                drop_cached(dst.fileno())
        os.replace(tmp, d)
        # Both names linking the same file (a retried store of one upload): rename left tmp.
        tmp.unlink(missing_ok=True)
        fsync_path(d.parent)
        return self.uri(name)

    def put_bytes(self, data: bytes, name: str) -> str:
        """Store ``data`` under ``name`` durably (fsync on local stores); idempotent."""
        dest = f"{self.root}/{name}"
        if not self._local:
            self.fs.pipe_file(dest, data)
            return self.uri(name)
        d = Path(dest)
        d.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = d.with_name(f"{d.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
            drop_cached(fd)
        finally:
            os.close(fd)
        os.replace(tmp, d)
        fsync_path(d.parent)
        return self.uri(name)

    def open(self, name: str) -> Any:
        return self.fs.open(f"{self.root}/{name}", "rb")

    def name_of(self, uri: str) -> str:
        """The blob name inside this store for a URI it returned.

        Names start with their zone folder (``landing/``, ``curated/``), so a store that moved
        (a restored backup, a new bucket) still resolves URIs recorded before the move.
        """
        if uri.startswith(self.url + "/"):
            return uri[len(self.url) + 1:]
        for zone in ("/landing/", "/curated/", "/datasets/"):
            if zone in uri:
                return zone[1:] + uri.rsplit(zone, 1)[1]
        raise StateError(f"{uri!r} is not a blob of this object store")

    def exists(self, name: str) -> bool:
        return bool(self.fs.exists(f"{self.root}/{name}"))

    def delete(self, name: str) -> None:
        if self.exists(name):
            self.fs.rm(f"{self.root}/{name}")

    def list(self, prefix: str = "") -> list[str]:
        base = f"{self.root}/{prefix}".rstrip("/")
        if not self.fs.exists(base):
            return []
        out = []
        for p in self.fs.find(base):
            out.append(p[len(self.root) + 1 :])
        return sorted(out)


def drop_cached(fd: int) -> None:
    """Evict a blob's pages from the page cache once they are on disk.

    Blobs are written once and read much later (curation), so caching them only pushes out what
    is hot; and on a busy collector a page cache that keeps growing makes every new write cost
    several times more CPU (fresh pages) than writing into recycled ones.
    """
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def _read_private(path: Path) -> bytes:
    if os.stat(path).st_mode & 0o077:
        raise StateError(f"{path} is readable by other users; fix with: chmod 600 {path}")
    return path.read_bytes()
