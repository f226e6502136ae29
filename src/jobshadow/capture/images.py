"""Reusable BGRA screen images (device zone; shared by every capture backend).

Allocating a fresh 8 MB frame per grab costs page faults and leaves freed buffers stranded in
malloc arenas — tens of MB of extra memory and several percent of a core at typing speed — so
grabs land in a small pool of frames the encoder reads directly.
"""

from __future__ import annotations

import threading

import av

from jobshadow.errors import CaptureError


class ImagePool:
    """Reusable BGRA frames of one size; thread-safe. Grows on demand; keeps at most ``keep`` spare."""

    def __init__(self, height: int, width: int, keep: int = 3) -> None:
        self.width = width
        self.height = height
        self._free: list[av.VideoFrame] = []
        self._keep = keep
        self._lock = threading.Lock()
        self.allocated = 0

    def take(self) -> av.VideoFrame:
        with self._lock:
            if self._free:
                return self._free.pop()
            self.allocated += 1
        frame = av.VideoFrame(self.width, self.height, "bgra")
        if frame.planes[0].line_size != self.width * 4:
            raise CaptureError("unexpected row padding in a video frame")
        return frame

    def give(self, frame: av.VideoFrame) -> None:
        with self._lock:
            if len(self._free) < self._keep:
                self._free.append(frame)
