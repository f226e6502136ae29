"""A collector on loopback plus enrolled devices with spool segments, for demo and tests.

``LiveCollector`` runs the real ASGI app on real uvicorn in a thread, bound to 127.0.0.1 on a
free port. ``make_segment`` writes a genuine sealed spool segment (MCAP, JSON channels, optional
incompressible "video" payload) the way the recorder would.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobshadow.config import Settings, load_settings
from jobshadow.crypto.sealed import SealedWriter
from jobshadow.home import Home
from jobshadow.records import EncodedFrame, FocusChange, FrameMeta, KeyEvent, Marker, MouseMove, Rect, WindowInfo
from jobshadow.segment.writer import SegmentWriter
from jobshadow.spool.keys import load_spool_key
from jobshadow.spool.store import SegmentFile, SpoolStore, segment_id

if TYPE_CHECKING:
    from jobshadow.govern import ProgrammeAdmin

# Who defines scopes and who reviews them in tests: never the same person.
LEAD = "person:lead@example.com"
REVIEWER = "person:dpo@example.com"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """An ASGI app on real uvicorn, bound to 127.0.0.1 on a free port, in a thread of this process."""

    def __init__(self, app: Any, what: str) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", log_config=None,
                                access_log=False)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the {what} did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10)


class LiveCollector:
    """The real collector app on real uvicorn, in this process (stop() when done).

    Only the collector, as ``server start`` runs it: the governance door (people's requests, the
    query API) is ``jobshadow.testing.door.LiveDoor``.
    """

    def __init__(self, home: Path, *, environ: dict[str, str] | None = None, **overrides: str) -> None:
        """``overrides``: ``[server]`` settings; ``environ``: any other ``JOBSHADOW_*`` variables."""
        from jobshadow.ingest.app import create_app
        from jobshadow.ingest.service import CollectorService

        env = {"JOBSHADOW_HOME": str(home), **(environ or {}),
               **{f"JOBSHADOW_SERVER__{k.upper()}": v for k, v in overrides.items()}}
        self.settings: Settings = load_settings(environ=env)
        self.service = CollectorService(self.settings, committer=True)
        self.scope: tuple[str, int] | None = None
        self._admin: ProgrammeAdmin | None = None
        self._stack = contextlib.ExitStack()
        self.app = create_app(self.settings, self.service)
        self._served = Served(self.app, "collector")
        self.port, self.url, self.server = self._served.port, self._served.url, self._served.server

    def stop(self) -> None:
        self._served.stop()
        self._stack.close()
        self.service.close()

    @property
    def admin(self) -> ProgrammeAdmin:
        """The programme's levers, open until ``stop()`` (see ``programme``)."""
        if self._admin is None:
            self._admin = self._stack.enter_context(self.programme())
        return self._admin

    @contextlib.contextmanager
    def programme(self) -> Iterator[ProgrammeAdmin]:
        """The programme's levers on this collector's state, as host maintenance opens them."""
        from jobshadow.govern import open_programme

        with open_programme(self.settings) as admin:
            yield admin

    def approve_scope(self, name: str = "work", apps: tuple[str, ...] = ("xterm",), **extra: Any) -> tuple[str, int]:
        """Define, review (a reviewer who is not the author) and activate a scope; its (name, version),
        which devices stamp into the segments they capture under it."""
        admin = self.admin
        out = admin.create_scope(name, {"apps": list(apps), **extra}, by=LEAD)
        rid = admin.submit_review(name, by=LEAD)
        admin.decide_review(rid, True, REVIEWER)
        admin.activate_scope(name, by=LEAD)
        self.scope = (name, int(out["version"]))
        return self.scope

    def enroll_code(self, email: str) -> str:
        return self.admin.create_enroll_code(email, by=LEAD)[0]


@dataclass
class FleetDevice:
    home: Home
    identity: Any
    key: Any


def enrol_device(collector: LiveCollector, root: Path, email: str) -> FleetDevice:
    from jobshadow.upload.identity import enroll

    home = Home(root).ensure()
    identity = enroll(home, collector.url, collector.enroll_code(email), name=f"test-{email}")
    return FleetDevice(home, identity, load_spool_key(home, "file"))


def make_segment(home: Home, *, events: int = 500, video_bytes: int = 0, session: str | None = None,
                 index: int = 1, text: str = "", title: str | None = None, app: str = "xterm",
                 task: str | None = None, screens: int = 0, shade: int = 0,
                 screen_text: tuple[str, ...] = (), scope: tuple[str, int] | None = None,
                 segment: str | None = None) -> SegmentFile:
    """A finished, sealed spool segment as the recorder writes it.

    ``text`` is typed (press and release per character) into a focused window of ``app`` titled
    ``title``; ``task`` adds task start/end markers with that title. ``screens`` adds that many
    real H.264 frames of a small synthetic screen (each a different colour, from colour ``shade``
    on, so two people's screens can differ), with a click before each of them, showing the lines
    of ``screen_text`` in a monospace font; ``video_bytes`` instead adds incompressible stand-in
    frames (not decodable). ``scope``: the (name, version) of the collection scope the segment
    is captured under, stamped into its metadata as the recorder does (None: unstamped);
    ``segment``: its id (default: a fresh one, as the recorder makes).
    """
    key = load_spool_key(home, "file")
    store = SpoolStore(home)
    session = session or secrets.token_hex(3)
    sid = segment or segment_id(session, index)
    with store.open_path(sid).open("xb") as raw:
        sealed = SealedWriter(raw, key.reveal(), content="mcap", extra={"segment_id": sid})
        width, height = SCREEN if screens else (1920, 1080)
        meta: dict[str, Any] = {"segment_id": sid, "session_id": session, "schema_version": 1,
                                "started": "2026-11-22T10:00:00+00:00", "wall_offset": 1.7e9,
                                "screen": {"width": width, "height": height},
                                "monitors": [{"x": 0, "y": 0, "width": width, "height": height}]}
        if scope is not None:
            meta["scope"] = {"name": scope[0], "version": scope[1]}
        w = SegmentWriter(sealed, meta)
        screen = _Screens(shade, screen_text) if screens else None
        if screen is not None:
            screen.frame(w, 0.0, "start")  # every segment opens on a keyframe of the screen
        if title is not None:
            win = WindowInfo(0x1200001, app, app.capitalize(), title, 4242, app, Rect(0, 0, 1280, 720))
            w.write(FocusChange(0.5, win))
        if task is not None:
            w.write(Marker(0.6, "task_start", {"title": task}))
        for j, ch in enumerate(text):
            t = 0.7 + j * 0.002
            w.write(KeyEvent(t, "key_press", 38, ord(ch), ch, ch, (), 0x1200001))
            w.write(KeyEvent(t + 0.001, "key_release", 38, ord(ch), ch, ch, (), 0x1200001))
        t0 = 1.0 + len(text) * 0.002
        for i in range(events):
            if i % 5 == 0:
                w.write(KeyEvent(t0 + i * 0.01, "key_press", 38, 97, "a", "a", (), 1))
            else:
                w.write(MouseMove(t0 + i * 0.01, i % 1920, i % 1080))
        seq = 0
        if screen is not None:
            seq = _write_screens(w, screen, screens, t0 + events * 0.01 + 0.05)
        left = video_bytes
        while left > 0:
            n = min(left, 64 * 1024)
            seq += 1
            w.write_frame(EncodedFrame(FrameMeta(2.0 + seq * 0.01, seq, "change", 2.0, 1920, 1080, seq == 1, (), ()),
                                       os.urandom(n)))
            left -= n
        if task is not None:
            w.write(Marker(t0 + events * 0.01 + 0.1, "task_end", {"title": task}))
        w.finish({"finished_by": "stop", "ended": "2026-11-22T10:01:00+00:00"})
        sealed.finish()
    return SegmentFile(sid, store.finalize(store.open_path(sid)), "finished", 0, 0.0)


SCREEN = (320, 240)


class _Screens:
    """Real H.264 frames of a small synthetic screen: frame k shows a colour band of colour k + shade."""

    def __init__(self, shade: int = 0, text: tuple[str, ...] = ()) -> None:
        from jobshadow.records import VisibleWindow
        from jobshadow.segment.video import H264Encoder

        self.encoder = H264Encoder(*SCREEN)
        self.window = VisibleWindow(0x1200001, "XTerm", Rect(0, 0, *SCREEN), True, False)
        self.seq = 0
        self.shade = shade
        self.text = _text_layer(text) if text else None

    def frame(self, w: SegmentWriter, t: float, reason: str) -> None:
        width, height = SCREEN
        k = self.seq + self.shade
        band = bytes((40 * k % 256, 200 - 20 * k % 200, 90, 255))
        pixels = bytearray(b"\x80\x80\x80\xff" * width * height)
        for y in range(height // 4, height // 2):
            pixels[y * width * 4:(y + 1) * width * 4] = band * width
        if self.text is not None:
            top = height // 2 * width * 4
            pixels[top:] = self.text[top:]
        data, key = self.encoder.encode(bytes(pixels), width, height, int(t * 1000))
        self.seq += 1
        w.write_frame(EncodedFrame(FrameMeta(t, self.seq, reason, t, width, height, key, (),  # type: ignore[arg-type]
                                             (self.window,)), data))


def _text_layer(lines: tuple[str, ...]) -> bytes:
    """A BGRA screen of dark text on white (DejaVu Sans Mono), lines from mid-height down."""
    from PIL import Image, ImageDraw, ImageFont

    height = SCREEN[1]
    im = Image.new("RGBA", SCREEN, (255, 255, 255, 255))
    draw = ImageDraw.Draw(im)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf", 13)
    for i, line in enumerate(lines):
        draw.text((4, height // 2 + 6 + 18 * i), line, fill=(20, 20, 20, 255), font=font)
    r, g, b, a = im.split()
    return Image.merge("RGBA", (b, g, r, a)).tobytes()


def _write_screens(w: SegmentWriter, screens: _Screens, n: int, t0: float) -> int:
    """``n`` more frames, each followed by a click at its colour band."""
    from jobshadow.records import MouseButton

    width, height = SCREEN
    for i in range(n):
        t = t0 + i * 0.2
        screens.frame(w, t, "before_action")
        x, y = 10 + 20 * i % (width - 20), height // 3
        w.write(MouseButton(t + 0.05, "mouse_press", 1, x, y))
        w.write(MouseButton(t + 0.1, "mouse_release", 1, x, y))
    return screens.seq
