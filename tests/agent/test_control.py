"""The control socket: permissions, malformed and oversized requests, long paths."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from jobshadow.agent.control import MAX_REQUEST, ControlServer, send_command
from jobshadow.errors import ControlError


def handler(cmd: str, args: dict[str, Any]) -> dict[str, Any]:
    if cmd == "echo":
        return {"ok": True, "args": args}
    return {"ok": False, "error": f"unknown command {cmd!r}"}


@pytest.fixture
def server(tmp_path: Path) -> Any:
    run = tmp_path / ("deep" * 30) / "run"  # longer than sockaddr_un allows
    run.mkdir(parents=True, mode=0o700)
    srv = ControlServer(run / "control.sock", handler)
    srv.start()
    yield srv
    srv.stop()


def raw(path: Path, payload: bytes) -> dict[str, Any]:
    from jobshadow.agent.control import _short_path

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with _short_path(path) as p:
        s.connect(p)
    try:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    finally:
        s.close()
    out: dict[str, Any] = json.loads(data)
    return out


def test_socket_is_owner_only_and_works_with_long_paths(server: ControlServer) -> None:
    assert len(str(server.path)) > 108
    assert stat.S_IMODE(server.path.stat().st_mode) == 0o600
    assert send_command(server.path, "echo", {"a": 1})["args"] == {"a": 1}


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"not json\n", "not valid JSON"),
        (b"[1,2]\n", "JSON object"),
        (b'{"cmd": 5}\n', "JSON object"),
        (b'{"cmd": "echo", "args": [1]}\n', '"args" must be an object'),
        (b'{"cmd": "nope"}\n', "unknown command"),
        (b"x" * (MAX_REQUEST + 10), "larger than"),
    ],
)
def test_bad_requests_get_a_reason_and_the_server_survives(server: ControlServer, payload: bytes, error: str) -> None:
    reply = raw(server.path, payload)
    assert reply["ok"] is False and error in reply["error"]
    assert send_command(server.path, "echo")["ok"]


def test_no_recorder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ControlError, match="no recorder is running"):
        send_command(tmp_path / "missing.sock", "status")
    stale = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(stale))
    s.close()
    with pytest.raises(ControlError, match="stale socket"):
        send_command(stale, "status")
