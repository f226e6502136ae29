"""Drive the real `jobshadow` CLI in a subprocess, as a person (or CI) would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from jobshadow.testing.poll import wait_for


def jobshadow_env(home: Path, display: str | None = None, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBSHADOW_")}
    env["JOBSHADOW_HOME"] = str(home)
    env.pop("WAYLAND_DISPLAY", None)
    env.pop("XDG_SESSION_TYPE", None)
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    if display:
        env["DISPLAY"] = display
    for key, value in settings.items():
        env[f"JOBSHADOW_{key.upper()}"] = value
    return env


def cli(
    env: dict[str, str], *args: str, input: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jobshadow", *args], env=env, capture_output=True, text=True,
                          input=input, timeout=timeout)


def cli_json(env: dict[str, str], *args: str) -> Any:
    out = cli(env, *args, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


class RecorderProcess:
    """A `jobshadow record start` process; `ready()` returns once it is capturing."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.env = env
        self.home = Path(env["JOBSHADOW_HOME"])
        self.proc = subprocess.Popen([sys.executable, "-m", "jobshadow", "record", "start", *args], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stderr = ""

    def ready(self, timeout: float = 20.0) -> RecorderProcess:
        sock = self.home / "run" / "control.sock"

        def answering() -> bool:
            if self.proc.poll() is not None:
                _, err = self.proc.communicate()
                raise AssertionError(f"recorder exited early ({self.proc.returncode}): {err}")
            return sock.exists() and cli(self.env, "record", "status").returncode == 0

        wait_for(answering, timeout, "the recorder to answer on its control socket", interval=0.05)
        return self

    def settle(self, timeout: float = 20.0) -> dict[str, Any]:
        """Wait until the recorder has taken in all the input sent so far, and return its status.

        Input reaches the recorder through the X server a few milliseconds after xdotool returns:
        settled means its input queue is empty and its event counts did not change between two
        looks. (Keys the typed-text guard still holds are counted as captured, not written.)
        """
        last: list[Any] = [None]

        def steady() -> dict[str, Any] | None:
            st = self.status()
            seen = (st["events_captured"], st["events_written"], st["frames"])
            done = st["input_queue"] == 0 and seen == last[0]
            last[0] = seen
            return st if done else None

        return wait_for(steady, timeout, "the recorder to take in the input sent", interval=0.1)

    def stop(self, timeout: float = 20.0) -> int:
        cli(self.env, "record", "stop")
        return self.wait(timeout)

    def wait(self, timeout: float = 60.0) -> int:
        try:
            _, self.stderr = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, self.stderr = self.proc.communicate()
            raise
        return self.proc.returncode

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.communicate()

    def status(self) -> dict[str, Any]:
        out = cli_json(self.env, "record", "status")
        assert isinstance(out, dict)
        return out


def segments(env: dict[str, str]) -> list[dict[str, Any]]:
    out = cli_json(env, "segments", "list")
    assert isinstance(out, list)
    return out


def export(env: dict[str, str], seg: str, out: Path) -> Path:
    res = cli(env, "segments", "export", seg, "--out", str(out))
    assert res.returncode == 0, res.stderr
    return out


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def export_all(env: dict[str, str], out: Path) -> list[Path]:
    dirs = []
    for i, seg in enumerate(segments(env)):
        dirs.append(export(env, seg["id"], out / f"{i:03d}-{seg['id']}"))
    return dirs


def all_events(dirs: list[Path]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for d in dirs:
        events.extend(read_jsonl(d / "events.jsonl"))
    events.sort(key=lambda e: e["t"])
    return events


def typed_text(events: list[dict[str, Any]]) -> str:
    """Text rebuilt from recorded key presses (BackSpace edits)."""
    out: list[str] = []
    for e in events:
        if e["kind"] != "key_press":
            continue
        if e.get("char") is not None:
            out.append(e["char"])
        elif e.get("keysym_name") == "BackSpace" and out:
            out.pop()
    return "".join(out)
