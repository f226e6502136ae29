"""The capture gate: one switch every source checks before keeping anything (device trust zone).

Closed while paused (optionally until a deadline), after consent is withdrawn, and while any
hold is set: the programme stopped remotely (kill switch), no active collection scope, a revoked
device, or no configuration from the collector yet. Sources read ``open`` on their hot path, so it is a
plain attribute read; state changes take a lock and recompute it. A closed gate means nothing is
recorded: input is discarded at the source and no frames are grabbed.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class GateStatus:
    open: bool
    paused: bool
    paused_until: float | None  # wall clock, seconds since the epoch
    withdrawn: bool
    programme_paused: bool
    reason: str


class CaptureGate:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paused = False
        self._paused_until: float | None = None
        self._withdrawn = False
        self._holds: dict[str, str] = {}  # name -> reason
        self.open = True
        self.changes = 0

    def _recompute(self) -> None:
        self.open = not (self._paused or self._withdrawn or self._holds)
        self.changes += 1

    def hold(self, name: str, on: bool, reason: str = "") -> None:
        """Set or clear a named hold; any hold closes the gate."""
        with self._lock:
            if on:
                self._holds[name] = reason or name
            else:
                self._holds.pop(name, None)
            self._recompute()

    def pause(self, seconds: float | None = None) -> None:
        with self._lock:
            self._paused = True
            self._paused_until = time.time() + seconds if seconds else None
            self._recompute()

    def resume(self) -> None:
        with self._lock:
            self._paused = False
            self._paused_until = None
            self._recompute()

    def withdraw(self) -> None:
        with self._lock:
            self._withdrawn = True
            self._recompute()

    def set_programme_paused(self, paused: bool, reason: str = "") -> None:
        self.hold("programme", paused, f"programme paused: {reason}" if reason else "programme paused")

    def tick(self, now_wall: float | None = None) -> bool:
        """Apply an auto-resume whose time has come; returns True if the gate reopened."""
        if self._paused_until is None:
            return False
        now_wall = time.time() if now_wall is None else now_wall
        with self._lock:
            if self._paused_until is not None and now_wall >= self._paused_until:
                self._paused = False
                self._paused_until = None
                self._recompute()
                return self.open
        return False

    def status(self) -> GateStatus:
        with self._lock:
            if self._withdrawn:
                reason = "consent withdrawn"
            elif self._holds:
                reason = "; ".join(self._holds.values())
            elif self._paused:
                reason = "paused"
            else:
                reason = "recording"
            return GateStatus(self.open, self._paused, self._paused_until, self._withdrawn,
                              "programme" in self._holds, reason)
