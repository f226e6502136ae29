"""H.264 encoding of screen frames and decoding back to images, with PyAV (shared).

One encoder per segment, so every segment is an independent H.264 stream that starts with an
IDR frame (plus SPS/PPS) and decodes alone. x264 runs with ``tune=zerolatency`` (no lookahead,
no B-frames): each frame comes out as one Annex-B access unit immediately, so a crash never
strands frames inside the encoder. Input is BGRA straight from the grabber; the colour
conversion uses swscale with point sampling (same size, so only the colour space changes).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from fractions import Fraction
from typing import TYPE_CHECKING

import av
from av.video.reformatter import Interpolation, VideoReformatter

if TYPE_CHECKING:  # decoding (exports, datasets) uses numpy; the recorder never imports it
    import numpy as np


class H264Encoder:
    """Encodes BGRA images of one size. Not thread-safe: the writer thread owns it."""

    def __init__(self, width: int, height: int, *, preset: str = "veryfast", crf: int = 28) -> None:
        # yuv420p needs even dimensions; an odd last row/column is cropped (documented).
        self.width = width - (width % 2)
        self.height = height - (height % 2)
        ctx = av.CodecContext.create("libx264", "w")
        ctx.width = self.width
        ctx.height = self.height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = Fraction(1, 1000)
        ctx.options = {
            "preset": preset,
            "crf": str(crf),
            "tune": "zerolatency",
            "threads": "1",
            # Keyframes only where we ask for them (segment start): a full 1080p I-frame costs
            # ~100 KiB, and the recording's own structure already bounds seeking.
            # weightp, lookahead and mbtree each keep extra 1080p planes (~45 MB) and buy nothing
            # for screen content encoded one frame at a time.
            "x264-params": "keyint=infinite:scenecut=0:repeat-headers=1:weightp=0:ref=1:"
            "rc-lookahead=0:sync-lookahead=0:mbtree=0",
        }
        self._ctx = ctx
        self._input: av.VideoFrame | None = None  # only for inputs that are not frames already
        self._reformatter = VideoReformatter()
        self._last_pts = -1
        self.frames = 0

    def encode(
        self, image: av.VideoFrame | bytes | bytearray, width: int, height: int, pts_ms: int
    ) -> tuple[bytes, bool]:
        """Encode one BGRA image of ``width`` x ``height``; returns (Annex-B access unit, is_keyframe).

        A BGRA ``av.VideoFrame`` of the encoder's size is used as is (no copy); anything else is
        copied into a frame first.
        """
        if isinstance(image, av.VideoFrame) and (width, height) == (self.width, self.height):
            src = image
        else:
            raw = image.planes[0] if isinstance(image, av.VideoFrame) else image
            if (width, height) != (self.width, self.height):
                raw = _crop_bgra(raw, width, height, self.width, self.height)
            if self._input is None:
                self._input = av.VideoFrame(self.width, self.height, "bgra")
            self._input.planes[0].update(raw)  # type: ignore[arg-type]  # any buffer works; the annotation says bytes
            src = self._input
        yuv = self._reformatter.reformat(src, format="yuv420p", interpolation=Interpolation.POINT)
        # Encode order is the only order x264 needs; real times travel in the frame metadata.
        pts = max(pts_ms, self._last_pts + 1)
        self._last_pts = pts
        yuv.pts = pts
        yuv.time_base = self._ctx.time_base
        packets = self._ctx.encode(yuv)
        self.frames += 1
        data = b"".join(bytes(p) for p in packets)
        key = any(p.is_keyframe for p in packets)
        return data, key

    def close(self) -> bytes:
        """Flush the encoder (zerolatency leaves nothing behind; kept for completeness)."""
        return b"".join(bytes(p) for p in self._ctx.encode(None))


def _crop_bgra(image: object, width: int, height: int, w: int, h: int) -> bytes:
    """The top-left ``w`` x ``h`` of a BGRA image (odd sizes lose their last row/column)."""
    mv = memoryview(image)  # type: ignore[arg-type]
    return b"".join(mv[y * width * 4 : y * width * 4 + w * 4] for y in range(h))


class H264Decoder:
    """Decodes a segment's access units in order into RGB arrays."""

    def __init__(self) -> None:
        self._ctx = av.CodecContext.create("h264", "r")

    def decode(self, access_unit: bytes) -> Iterator[np.ndarray]:  # numpy arrays, RGB
        for frame in self._ctx.decode(av.Packet(access_unit)):
            yield frame.to_ndarray(format="rgb24")

    def decode_all(self, units: Iterable[bytes]) -> Iterator[np.ndarray]:
        for unit in units:
            yield from self.decode(unit)
        for frame in self._ctx.decode(None):
            yield frame.to_ndarray(format="rgb24")


def png_bytes(rgb: np.ndarray) -> bytes:
    """Lossless PNG of an RGB image, via FFmpeg's PNG encoder (no extra imaging library)."""
    import numpy as np

    h, w = rgb.shape[:2]
    ctx = av.CodecContext.create("png", "w")
    ctx.width = w
    ctx.height = h
    ctx.pix_fmt = "rgb24"
    ctx.time_base = Fraction(1, 1)
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    frame.pts = 0
    packets = list(ctx.encode(frame)) + list(ctx.encode(None))
    return b"".join(bytes(p) for p in packets)
