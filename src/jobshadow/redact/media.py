"""A segment's screen media, redacted: decode, read and fill, re-encode (server zone, landing → curated).

Curation (and a contributor's local dataset build) never keeps the landed frames: every frame is
decoded in order, given to one ``StreamRedactor`` (so only what changed is read, and what was
found stays filled while it is on screen), and the redacted image is encoded again into a new
H.264 stream that starts on a keyframe, like the device's. A frame whose redaction fails is
**withheld**: it is not encoded, its row says so, and every dataset treats it as missing (fail
closed). A damaged stream withholds every frame from the damage on.

The frames table that ``curate.rows.segment_tables`` made is rewritten to match: offsets and
lengths into the new media blob, ``screen_findings`` (boxes filled) and ``withheld``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import av
import pyarrow as pa

from jobshadow.lake import curated
from jobshadow.redact.stream import StreamRedactor
from jobshadow.segment.video import H264Encoder

log = logging.getLogger(__name__)

# The curated copy is encoded once more: a little more quality than the device spends, so text
# stays as legible as it was.
CRF = 23


@dataclass
class MediaReport:
    frames: int = 0
    redacted: int = 0  # frames with at least one box filled
    boxes: int = 0
    withheld: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def as_detail(self) -> dict[str, str | int]:
        """For the audit record: counts only, never what was found."""
        return {"frames": self.frames, "redacted": self.redacted, "boxes": self.boxes, "withheld": self.withheld,
                "ms": round(self.seconds * 1000)}


RedactorFactory = Callable[[], StreamRedactor]


def redact_media(frames: pa.Table, media: bytes, *, redactor: RedactorFactory = StreamRedactor,
                 crf: int = CRF) -> tuple[pa.Table, bytes, MediaReport]:
    """``frames`` (a ``curated.frames`` table for one segment) and its media, redacted.

    Frames are decoded, redacted and encoded one at a time, in frame order, so memory holds a
    few frames whatever the segment's length.
    """
    return _Redaction(frames, media, redactor(), crf).run()


class _Redaction:
    def __init__(self, frames: pa.Table, media: bytes, stream: StreamRedactor, crf: int) -> None:
        self.rows = sorted(frames.to_pylist(), key=lambda r: int(r["frame_seq"]))
        self.media = media
        self.stream = stream
        self.crf = crf
        self.out = bytearray()
        self.encoder: H264Encoder | None = None
        self.report = MediaReport(frames=len(self.rows))
        self.next = 0  # the first row without an outcome yet
        self.waiting: dict[int, Any] = {}  # decoded frames by frame_seq, not redacted yet

    def run(self) -> tuple[pa.Table, bytes, MediaReport]:
        t0 = time.process_time()
        decoder = av.CodecContext.create("h264", "r")
        broken: str | None = None
        try:
            for row in self.rows:
                unit = self._unit(row)
                if not unit:
                    continue
                packet = av.Packet(unit)
                packet.pts = int(row["frame_seq"])  # the decoder may hold frames back: name each
                self._decoded(decoder.decode(packet))
            self._decoded(decoder.decode(None))
        except av.FFmpegError as exc:
            # Later frames depend on the broken one: none of them can be shown.
            broken = f"damaged stream ({type(exc).__name__})"
        while self.next < len(self.rows):
            self._withhold(self.rows[self.next], broken or "not decoded")
        if self.encoder is not None:
            self.out += self.encoder.close()
        self.report.seconds = time.process_time() - t0
        table = pa.Table.from_pylist([{c.name: r.get(c.name) for c in curated.FRAMES.columns} for r in self.rows],
                                     schema=curated.FRAMES.arrow_schema())
        return table, bytes(self.out), self.report

    def _unit(self, row: dict[str, Any]) -> bytes:
        offset, length = row.get("media_offset"), row.get("media_length")
        if offset is None or not length:
            return b""
        return self.media[int(offset): int(offset) + int(length)]

    def _decoded(self, frames: Any) -> None:
        for frame in frames:
            if frame.pts is not None:
                self.waiting[int(frame.pts)] = frame.to_ndarray(format="rgb24")
            self._advance()

    def _advance(self) -> None:
        """Settle rows in frame order while their frame is decoded (or they have none)."""
        while self.next < len(self.rows):
            row = self.rows[self.next]
            seq = int(row["frame_seq"])
            if not self._unit(row):
                self._withhold(row, "no media")
            elif seq in self.waiting:
                self._redact(row, self.waiting.pop(seq))
            else:
                return

    def _redact(self, row: dict[str, Any], rgb: Any) -> None:
        result = self.stream.redact(rgb)
        if result.failed or result.image is None:
            log.warning("frame %s withheld: %s", row["frame_seq"], result.reason)
            self._withhold(row, result.reason or "redaction failed")
            return
        image = result.image
        if self.encoder is None:
            h, w = image.shape[:2]
            self.encoder = H264Encoder(w, h, crf=self.crf)
        enc = self.encoder
        unit, key = enc.encode(av.VideoFrame.from_ndarray(image[: enc.height, : enc.width], format="rgb24"),
                               enc.width, enc.height, int(float(row["t"]) * 1000))
        row.update(withheld=False, screen_findings=len(result.findings), media_offset=len(self.out),
                   media_length=len(unit), keyframe=key)
        self.out += unit
        if result.findings:
            self.report.redacted += 1
            self.report.boxes += len(result.findings)
        self.next += 1

    def _withhold(self, row: dict[str, Any], reason: str) -> None:
        row.update(withheld=True, screen_findings=0, media_offset=len(self.out), media_length=0, keyframe=False)
        self.report.withheld += 1
        self.report.reasons[reason] = self.report.reasons.get(reason, 0) + 1
        self.next += 1
