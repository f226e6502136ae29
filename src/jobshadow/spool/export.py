"""Export a decrypted segment for its owner: JSONL events, window changes, PNG frames (device zone).

Layout of the output directory::

    events.jsonl    one input/recorder event per line: kind, t (monotonic seconds) and its fields
    windows.jsonl   one focus change per line (window is null when nothing in scope had focus)
    frames/         one PNG per frame, named by its timestamp: 0000123.456789.png
    frames.jsonl    frame metadata (seq, t, reason, stacking) with the PNG's file name
    segment.json    the segment's metadata and inspect summary

Only what the segment holds is exported: it was filtered before it was written, so an export
can never contain more than the spool.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jobshadow.segment.format import TOPIC_FOCUS, TOPIC_FRAMES, TOPIC_KEYBOARD, TOPIC_MOUSE, TOPIC_RECORDER, TOPIC_VIDEO
from jobshadow.segment.reader import SegmentContent, summarize
from jobshadow.segment.video import H264Decoder, png_bytes


def frame_name(t: float) -> str:
    return f"{t:014.6f}.png"


def decoded_frames(content: SegmentContent) -> list[tuple[dict[str, Any], Any]]:
    """(frame metadata, RGB array) for every frame, in time order."""
    import base64

    metas = {body["seq"]: body for _, _, body in content.iter_decoded(TOPIC_FRAMES)}
    video = [(int(body["frame_id"]), body) for _, _, body in content.iter_decoded(TOPIC_VIDEO)]
    video.sort(key=lambda x: x[0])  # decode order is encode order: by sequence number
    decoder = H264Decoder()
    out: list[tuple[dict[str, Any], Any]] = []
    for seq, body in video:
        images = list(decoder.decode(base64.b64decode(body["data"])))
        if images and seq in metas:
            out.append((metas[seq], images[-1]))
    out.sort(key=lambda x: x[0]["t"])
    return out


def export_segment(
    content: SegmentContent, out: Path, progress: Callable[[int, int], None] | None = None
) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    frames_dir = out / "frames"
    frames_dir.mkdir(exist_ok=True)
    n_events = 0
    with (out / "events.jsonl").open("w") as fh:
        for _topic, _ns, body in content.iter_decoded(TOPIC_KEYBOARD, TOPIC_MOUSE, TOPIC_RECORDER):
            fh.write(json.dumps(body, ensure_ascii=False) + "\n")
            n_events += 1
    n_windows = 0
    with (out / "windows.jsonl").open("w") as fh:
        for _topic, _ns, body in content.iter_decoded(TOPIC_FOCUS):
            fh.write(json.dumps(body, ensure_ascii=False) + "\n")
            n_windows += 1
    frames = decoded_frames(content)
    with (out / "frames.jsonl").open("w") as fh:
        for i, (meta, rgb) in enumerate(frames):
            name = frame_name(meta["t"])
            (frames_dir / name).write_bytes(png_bytes(rgb))
            fh.write(json.dumps({**meta, "file": f"frames/{name}"}) + "\n")
            if progress is not None:
                progress(i + 1, len(frames))
    (out / "segment.json").write_text(json.dumps(
        {"metadata": content.metadata, "summary": summarize(content)}, indent=2, default=str))
    return {"events": n_events, "windows": n_windows, "frames": len(frames)}
