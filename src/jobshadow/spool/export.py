"""Export a decrypted segment for its owner: JSONL events, window changes, PNG frames (device zone).

Layout of the output directory::

    events.jsonl    one input/recorder event per line: kind, t (monotonic seconds) and its fields
    windows.jsonl   one focus change per line (window is null when nothing in scope had focus)
    frames/         one PNG per frame, named by its timestamp: 0000123.456789.png
    frames.jsonl    frame metadata (seq, t, reason, stacking) with the PNG's file name
    segment.json    the segment's metadata and inspect summary

Only what the segment holds is exported: it was filtered before it was written, so an export
can never contain more than the spool. What it holds is the person's own typing, titles and
screens in clear, so the folder is made 0700 and every file is created 0600 from its first byte
(like ``segments decrypt``); an existing file is never overwritten.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from jobshadow.records import CompressedVideo, FrameMeta, wire
from jobshadow.segment.format import TOPIC_FOCUS, TOPIC_FRAMES, TOPIC_KEYBOARD, TOPIC_MOUSE, TOPIC_RECORDER, TOPIC_VIDEO
from jobshadow.segment.reader import SegmentContent, summarize
from jobshadow.segment.video import H264Decoder, png_bytes


def private_dir(path: Path) -> None:
    """``path`` as a folder only its owner can open (created if missing, tightened if not)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


@contextmanager
def private_file(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """A new file created 0600 (never replacing one), opened for writing text or (``"wb"``) bytes."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    if "b" in mode:
        with os.fdopen(fd, "wb") as fh:
            yield fh
    else:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            yield fh


def frame_name(t: float) -> str:
    return f"{t:014.6f}.png"


def decoded_frames(content: SegmentContent) -> list[tuple[dict[str, Any], Any]]:
    """(frame metadata, RGB array) for every frame, in time order."""
    metas = {r.seq: r for _, _, r in content.records(TOPIC_FRAMES) if isinstance(r, FrameMeta)}
    video = [(int(r.frame_id), r) for _, _, r in content.records(TOPIC_VIDEO) if isinstance(r, CompressedVideo)]
    video.sort(key=lambda x: x[0])  # decode order is encode order: by sequence number
    decoder = H264Decoder()
    out: list[tuple[dict[str, Any], Any]] = []
    for seq, unit in video:
        images = list(decoder.decode(unit.data))
        if images and seq in metas:
            out.append((wire(metas[seq]), images[-1]))
    out.sort(key=lambda x: x[0]["t"])
    return out


def export_segment(
    content: SegmentContent, out: Path, progress: Callable[[int, int], None] | None = None
) -> dict[str, int]:
    private_dir(out)
    frames_dir = out / "frames"
    private_dir(frames_dir)
    n_events = 0
    with private_file(out / "events.jsonl") as fh:
        for _topic, _ns, body in content.iter_decoded(TOPIC_KEYBOARD, TOPIC_MOUSE, TOPIC_RECORDER):
            fh.write(json.dumps(body, ensure_ascii=False) + "\n")
            n_events += 1
    n_windows = 0
    with private_file(out / "windows.jsonl") as fh:
        for _topic, _ns, body in content.iter_decoded(TOPIC_FOCUS):
            fh.write(json.dumps(body, ensure_ascii=False) + "\n")
            n_windows += 1
    frames = decoded_frames(content)
    with private_file(out / "frames.jsonl") as fh:
        for i, (meta, rgb) in enumerate(frames):
            name = frame_name(meta["t"])
            with private_file(frames_dir / name, "wb") as png:
                png.write(png_bytes(rgb))
            fh.write(json.dumps({**meta, "file": f"frames/{name}"}) + "\n")
            if progress is not None:
                progress(i + 1, len(frames))
    with private_file(out / "segment.json") as fh:
        fh.write(json.dumps({"metadata": content.metadata, "summary": summarize(content)}, indent=2, default=str))
    return {"events": n_events, "windows": n_windows, "frames": len(frames)}
