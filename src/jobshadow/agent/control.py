"""The recorder's control socket: stop, pause, resume, status, withdraw (device trust zone).

A Unix stream socket at ``JOBSHADOW_HOME/run/control.sock`` inside a 0700 directory, itself mode
0600, and every connection's peer credentials are checked (same uid only). One request per
connection: a JSON object on one line, answered by one JSON line. Requests larger than 64 KiB,
malformed JSON or unknown commands get ``{"ok": false, "error": ...}``; nothing a client sends can
stop the server thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from jobshadow.errors import ControlError, JobshadowError

log = logging.getLogger(__name__)

MAX_REQUEST = 64 * 1024
_SUN_PATH_MAX = 100  # sockaddr_un.sun_path is 108 bytes; keep margin for the NUL

Handler = Callable[[str, dict[str, Any]], dict[str, Any]]


@contextlib.contextmanager
def _short_path(path: Path) -> Iterator[str]:
    """A path to ``path`` short enough for AF_UNIX, via /proc/self/fd when the real one is long."""
    if len(os.fsencode(path)) <= _SUN_PATH_MAX:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


class ControlServer:
    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        self._handler = handler
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a stale socket of a dead recorder (we hold the home's lock)
        with _short_path(path) as p:
            self._sock.bind(p)
        os.chmod(path, 0o600)
        self._sock.listen(8)
        self._sock.settimeout(0.25)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="control", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue
            with conn:
                try:
                    self._handle(conn)
                except Exception:  # thread boundary: one bad client never stops the server
                    log.exception("control request failed")

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(2.0)
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _pid, uid, _gid = struct.unpack("3i", creds)
        if uid != os.getuid():
            _send(conn, {"ok": False, "error": "permission denied"})
            return
        buf = bytearray()
        while b"\n" not in buf:
            chunk = conn.recv(4096)
            if not chunk:
                break
            buf += chunk
            if len(buf) > MAX_REQUEST:
                _send(conn, {"ok": False, "error": f"request larger than {MAX_REQUEST} bytes"})
                return
        try:
            req = json.loads(bytes(buf).split(b"\n", 1)[0] or b"null")
        except ValueError:
            _send(conn, {"ok": False, "error": "request is not valid JSON"})
            return
        if not isinstance(req, dict) or not isinstance(req.get("cmd"), str):
            _send(conn, {"ok": False, "error": 'request must be a JSON object with a "cmd" string'})
            return
        args = req.get("args") or {}
        if not isinstance(args, dict):
            _send(conn, {"ok": False, "error": '"args" must be an object'})
            return
        try:
            reply = self._handler(req["cmd"], args)
        except JobshadowError as exc:
            reply = {"ok": False, "error": str(exc)}
        _send(conn, reply)


def _send(conn: socket.socket, obj: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps(obj).encode() + b"\n")


def send_command(path: Path, cmd: str, args: dict[str, Any] | None = None, timeout: float = 5.0) -> dict[str, Any]:
    """Send one command to a running recorder; ControlError when none answers."""
    if not path.exists():
        raise ControlError("no recorder is running for this JOBSHADOW_HOME")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        with _short_path(path) as p:
            sock.connect(p)
        sock.sendall(json.dumps({"cmd": cmd, "args": args or {}}).encode() + b"\n")
        buf = bytearray()
        while b"\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
    except (ConnectionRefusedError, FileNotFoundError):
        raise ControlError("no recorder is running for this JOBSHADOW_HOME (stale socket)") from None
    except TimeoutError:
        raise ControlError("the recorder did not answer in time") from None
    except OSError as exc:
        raise ControlError(f"cannot reach the recorder: {exc.strerror or exc}") from None
    finally:
        sock.close()
    try:
        reply = json.loads(bytes(buf))
    except ValueError:
        raise ControlError("the recorder sent a malformed reply") from None
    if not isinstance(reply, dict):
        raise ControlError("the recorder sent a malformed reply")
    if not reply.get("ok"):
        raise ControlError(str(reply.get("error", "the recorder refused the command")))
    return reply
