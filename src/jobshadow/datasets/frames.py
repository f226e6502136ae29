"""Decoding the frames steps need, per segment: images for observations, fingerprints for comparisons.

Each segment's H.264 stream starts on a keyframe, so segments decode independently (the unit of
parallel work for both engines). Decoding stops after the last frame anyone asked for; only the
frames a step shows are converted to RGB and compressed; the frames used to check whether a click
changed anything are fingerprinted from their luma plane (no conversion at all).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np

IMAGE_FORMATS = ("jpeg", "png")
JPEG_QUALITY = 92  # visually lossless for screen text at 1080p, ~200 KB a frame


@dataclass
class FrameJob:
    segment_id: str
    units: list[tuple[int, bytes]]  # (frame_seq, access unit) in decode order
    images: list[int] = field(default_factory=list)  # frame seqs to render
    fingerprints: list[int] = field(default_factory=list)  # frame seqs to fingerprint
    image_format: str = "jpeg"


@dataclass
class FrameResult:
    segment_id: str
    images: dict[int, bytes]
    fingerprints: dict[int, str]
    decoded: int
    missing: list[int]
    error: str | None = None  # why decoding stopped early (a damaged stream)


def encode_image(rgb: object, image_format: str) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    picture = Image.fromarray(rgb)  # type: ignore[arg-type]
    if image_format == "png":
        picture.save(out, format="PNG", compress_level=1)
    else:
        picture.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=False)
    return out.getvalue()


def render(job: FrameJob) -> FrameResult:
    """Decode ``job``'s segment up to the last frame needed; render and fingerprint as asked."""
    want_images = set(job.images)
    want_prints = set(job.fingerprints)
    last = max(want_images | want_prints, default=-1)
    images: dict[int, bytes] = {}
    prints: dict[int, str] = {}
    decoded = 0
    error: str | None = None
    if last >= 0:
        ctx = av.CodecContext.create("h264", "r")

        def packets() -> Iterator[av.Packet[Any] | None]:
            for seq, unit in job.units:
                if seq > last:
                    break
                packet = av.Packet(unit)
                packet.pts = seq  # the decoder may hold frames back: name each by its own seq
                yield packet
            yield None  # drain what the decoder still holds

        try:
            for packet in packets():
                for frame in ctx.decode(packet):
                    decoded += 1
                    seq = frame.pts if frame.pts is not None else -1
                    if seq in want_prints:
                        # Rows carry alignment padding whose bytes are not part of the picture.
                        plane = frame.planes[0]
                        rows = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
                        rows = rows[: frame.height, : frame.width]
                        prints[seq] = hashlib.blake2b(np.ascontiguousarray(rows).data, digest_size=16).hexdigest()
                    if seq in want_images:
                        images[seq] = encode_image(frame.to_ndarray(format="rgb24"), job.image_format)
        except av.FFmpegError as exc:
            # A damaged stream: later frames depend on the broken one, so stop here. The frames not
            # decoded are reported missing; the steps showing them are filtered as ``no_frame``.
            error = f"{type(exc).__name__}: {exc}"
    missing = sorted((want_images - images.keys()) | (want_prints - prints.keys()))
    return FrameResult(job.segment_id, images, prints, decoded, missing, error)
