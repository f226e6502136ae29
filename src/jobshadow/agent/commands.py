"""The recorder's control commands: one handler per command, looked up in a table (device zone).

Runs on the ``control`` thread (``jobshadow.agent.control`` parses and answers the socket). A
handler validates its arguments, changes only thread-safe state — the capture gate, the inboxes
(by appending), the stop request — and returns the JSON reply. Markers it records go through the
writer's inbox like everything else; a task title passes the detector before it is stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from jobshadow.agent.pipeline import Channels
from jobshadow.protect.gate import CaptureGate
from jobshadow.records import Marker
from jobshadow.sensitive import redact as redact_text

Reply = dict[str, Any]
MAX_PAUSE_S = 7 * 86400
MAX_TITLE = 500


class Commands:
    """``handle(cmd, args)`` is the control server's handler."""

    def __init__(self, gate: CaptureGate, channels: Channels, *, status: Callable[[], dict[str, Any]],
                 request_stop: Callable[[str], None], withdraw: Callable[[], None]) -> None:
        self.gate = gate
        self.ch = channels
        self._status = status
        self._request_stop = request_stop
        self._withdraw = withdraw
        self.table: dict[str, Callable[[dict[str, Any]], Reply]] = {
            "status": self.status, "stop": self.stop, "pause": self.pause, "resume": self.resume,
            "withdraw": self.withdraw, "task_start": self.task_start, "task_end": self.task_end,
        }

    def handle(self, cmd: str, args: dict[str, Any]) -> Reply:
        handler = self.table.get(cmd)
        if handler is None:
            return {"ok": False, "error": f"unknown command {cmd!r}"}
        return handler(args)

    def status(self, args: dict[str, Any]) -> Reply:
        return {"ok": True, "status": self._status()}

    def stop(self, args: dict[str, Any]) -> Reply:
        self._request_stop("stop command")
        return {"ok": True}

    def pause(self, args: dict[str, Any]) -> Reply:
        seconds = args.get("seconds")
        if seconds is not None and (not isinstance(seconds, int | float) or seconds <= 0 or seconds > MAX_PAUSE_S):
            return {"ok": False, "error": "pause duration must be between 1 second and 7 days"}
        was_open = self.gate.open
        self.gate.pause(float(seconds) if seconds else None)
        self.ch.screen.clear()  # changes and actions seen before the pause plan no frame
        if was_open:
            self.ch.events.append(Marker(t=time.monotonic(), name="pause", detail={"seconds": seconds}))
        return {"ok": True, "status": self._status()}

    def resume(self, args: dict[str, Any]) -> Reply:
        self.gate.resume()
        self.ch.events.append(Marker(t=time.monotonic(), name="resume", detail={"by": "command"}))
        return {"ok": True, "status": self._status()}

    def withdraw(self, args: dict[str, Any]) -> Reply:
        self._withdraw()
        return {"ok": True}

    def task_start(self, args: dict[str, Any]) -> Reply:
        return self._task("task_start", args)

    def task_end(self, args: dict[str, Any]) -> Reply:
        return self._task("task_end", args)

    def _task(self, name: str, args: dict[str, Any]) -> Reply:
        title = args.get("title", "")
        if not isinstance(title, str) or len(title) > MAX_TITLE:
            return {"ok": False, "error": f"task title must be a string of at most {MAX_TITLE} characters"}
        # The contributor's own words still pass the detector before they are stored.
        detail = {"title": redact_text(title)[0]} if title else {}
        self.ch.events.append(Marker(t=time.monotonic(), name="task_start" if name == "task_start" else "task_end",
                                     detail=detail))
        return {"ok": True}
