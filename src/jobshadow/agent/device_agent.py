"""What an enrolled device runs beside capture: control-plane sync and the uploader (device zone).

Used by the recorder (threads inside it) and by ``jobshadow upload run`` (standalone). The
collector's configuration is authoritative for an enrolled device: its scope replaces the local
allow-list (local deny rules still apply on top — a device can narrow, never widen), a paused
programme or a missing scope closes the capture gate, and a withdrawal recorded on the server
withdraws consent here too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from jobshadow.config import ScopeSettings, Settings
from jobshadow.device_api import DeviceConfig, Scope
from jobshadow.errors import StateError, Transient
from jobshadow.home import Home
from jobshadow.protect.consent import ConsentStore
from jobshadow.spool.keys import SpoolKey, load_spool_key
from jobshadow.upload.client import CollectorClient
from jobshadow.upload.identity import DeviceIdentity, load_identity
from jobshadow.upload.sync import DeviceSync
from jobshadow.upload.uploader import Uploader, UploadStats

log = logging.getLogger(__name__)


def scope_settings(remote: Scope, local: ScopeSettings) -> ScopeSettings:
    """The effective scope: the collector's, narrowed by local deny rules."""
    return ScopeSettings(
        allow_apps=remote.apps,
        deny_apps=remote.deny_apps + local.deny_apps,
        allow_titles=remote.allow_titles,
        deny_titles=remote.deny_titles + local.deny_titles,
    )


class Enrolment:
    """Sync plus uploader threads for an enrolled device."""

    def __init__(self, settings: Settings, home: Home, identity: DeviceIdentity, key: SpoolKey,
                 on_config: Callable[[DeviceConfig], None], *, upload: bool = True) -> None:
        self.settings = settings
        self.home = home
        self.identity = identity
        self.consent = ConsentStore(home)
        self._on_config = on_config
        self.sync = DeviceSync(home, CollectorClient(identity.server_url, identity), self._config,
                               poll_timeout=float(settings.upload.poll_timeout),
                               retry_max=min(60.0, float(settings.upload.retry_max)))
        self.uploader = (Uploader(home, settings.upload, identity, key, allowed=self.upload_allowed,
                                  blocker=self.upload_blocker) if upload else None)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reported: str | None = None

    def upload_allowed(self) -> bool:
        return self.upload_blocker() is None

    def upload_blocker(self) -> str | None:
        """Why uploads are held right now (None: they may proceed)."""
        if self.consent.read().state != "given":
            return "consent is not given on this device"
        cfg = self.sync.config
        if cfg is None:
            return "no configuration from the collector yet"
        return cfg.upload_blocker()

    def _config(self, cfg: DeviceConfig) -> None:
        # The consent mirror: tell the collector what this person decided here.
        server_state = cfg.consent.state
        local = self.consent.read().state
        if server_state != "withdrawn" and local in ("given", "withdrawn") and local != server_state \
                and self._reported != local:
            self._reported = local
            threading.Thread(target=self.sync.report_consent, args=(local,), daemon=True).start()
        self._on_config(cfg)

    def start(self) -> None:
        self.sync.start()
        if self.uploader is not None:
            self._thread = threading.Thread(target=self.uploader.run, args=(self._stop,), name="uploader",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self.sync.stop(timeout)
        if self._thread is not None:
            self._thread.join(timeout)
        if self.uploader is not None:
            self.uploader.close()

    def status(self) -> dict[str, Any]:
        cfg = self.sync.config
        scope = cfg.scope if cfg is not None else None
        up = self.uploader.stats if self.uploader else UploadStats()
        return {
            "device_id": self.identity.device_id,
            "server": self.identity.server_url,
            "programme": cfg.programme.state if cfg is not None else None,
            "scope": scope.name if scope is not None else None,
            "scope_version": scope.version if scope is not None else None,
            "last_contact": self.sync.last_contact,
            "sync_error": self.sync.error,
            "uploads": {"landed": up.landed, "bytes_sent": up.bytes_sent, "retries": up.retries,
                        "quarantined": up.quarantined, "pending": up.pending, "last_error": up.last_error},
        }


def standalone_uploader(settings: Settings, stop: threading.Event, *, once: bool) -> UploadStats:
    """``jobshadow upload run``: deliver without a recorder (holds the home's upload lock)."""
    import fcntl
    import os

    home = Home(settings.home).ensure()
    identity = load_identity(home)
    if identity is None:
        raise StateError("this device is not enrolled; run `jobshadow device enroll` first")
    key = load_spool_key(home, settings.protect.keyring, create=False)
    lock_path = home.run_dir / "upload.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise StateError("another uploader (or a recorder) is delivering this home's segments") from None
        enrol = Enrolment(settings, home, identity, key, on_config=lambda cfg: None)
        if once:
            assert enrol.uploader is not None
            try:
                enrol.sync.poll_once(0)
                return enrol.uploader.run_once(stop)
            except Transient as exc:
                if enrol.sync.last_contact is None:
                    raise StateError(f"the collector is not reachable: {exc}") from None
                enrol.uploader.stats.last_error = str(exc)
                return enrol.uploader.stats
            finally:
                enrol.stop(0)
        enrol.start()
        stop.wait()
        enrol.stop()
        assert enrol.uploader is not None
        return enrol.uploader.stats
    finally:
        os.close(fd)
