"""Keep this device in step with the control plane: scope, kill switch, consent (device zone).

A long poll (``GET /v1/device/config?wait=…`` with the last ETag) returns as soon as anything a
device must obey changes, so a new scope, a paused programme or a withdrawal reaches the device
within a second or two. The last configuration is cached (0600) so a restarted recorder applies
it before the collector answers; without any configuration an enrolled device captures nothing.

The device also reports its own consent changes to the collector (the consent mirror), and keeps
trying until they are delivered.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from jobshadow.backoff import Backoff
from jobshadow.device_api import DeviceConfig
from jobshadow.errors import RequestRejected, StateError, Transient
from jobshadow.home import Home, write_private
from jobshadow.upload.client import CollectorClient

log = logging.getLogger(__name__)

ConfigHandler = Callable[[DeviceConfig], None]


def cache_path(home: Home) -> Path:
    return home.state_dir / "device_config.json"


def cached_config(home: Home) -> DeviceConfig | None:
    """The last configuration received (None: none yet, or a cache this version cannot read)."""
    p = cache_path(home)
    if not p.exists():
        return None
    try:
        return msgspec.json.decode(p.read_bytes(), type=DeviceConfig)
    except (OSError, msgspec.ValidationError, msgspec.DecodeError):
        return None


class DeviceSync:
    def __init__(self, home: Home, client: CollectorClient, on_config: ConfigHandler, *, poll_timeout: float = 20.0,
                 retry_max: float = 60.0) -> None:
        self.home = home
        self.client = client
        self.on_config = on_config
        self.poll_timeout = poll_timeout
        self.retry_max = retry_max
        self.backoff = Backoff(min(1.0, retry_max), retry_max)
        self.config: DeviceConfig | None = cached_config(home)
        self.last_contact: float | None = None
        self.error: str | None = None
        self._pending_consent: str | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def report_consent(self, state: str) -> None:
        """Queue a consent change for the collector (sent now if possible, else by the loop)."""
        with self._lock:
            self._pending_consent = state
        self._flush_consent()

    def _flush_consent(self) -> None:
        with self._lock:
            state = self._pending_consent
        if state is None:
            return
        try:
            self.client.report_consent(state)
        except Transient:
            return
        except RequestRejected as exc:
            log.error("collector refused the consent report: %s", exc.code)
        with self._lock:
            if self._pending_consent == state:
                self._pending_consent = None

    def poll_once(self, wait: float) -> DeviceConfig | None:
        """One (long) poll; applies and caches a changed configuration and returns it."""
        etag = self.config.etag if self.config else None
        cfg = self.client.device_config(etag, wait)
        self.last_contact = time.time()
        self.error = None
        if cfg is None:
            return None
        self.config = cfg
        write_private(cache_path(self.home), msgspec.json.encode(cfg))
        self.on_config(cfg)
        return cfg

    def start(self) -> None:
        if self.config is not None:
            self.on_config(self.config)
        self._thread = threading.Thread(target=self._run, name="device-sync", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self.client.close()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        backoff = self.backoff
        while not self._stop.is_set():
            try:
                self._flush_consent()
                self.poll_once(self.poll_timeout)
                backoff.reset()
            except Transient as exc:
                self.error = str(exc)
                self._stop.wait(backoff.next(exc.retry_after))
            except RequestRejected as exc:
                self.error = f"{exc.status} {exc.code}"
                if exc.code == "device_revoked":
                    self.on_config(DeviceConfig.revoked())
                # A refusal will not pass as quickly as an outage: wait longer before asking again.
                self._stop.wait(min(backoff.next() * 5, self.retry_max))
            except StateError as exc:
                self.error = str(exc)
                self._stop.wait(self.retry_max)
            except Exception as exc:  # thread boundary
                self.error = type(exc).__name__
                log.exception("device sync failed; retrying")
                self._stop.wait(backoff.next())
