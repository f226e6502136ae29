"""The on-disk spool of sealed segments: names, listing, lookup and opening (device trust zone).

A segment being written is ``<id>.mcap.sealed.part``; a finished one is ``<id>.mcap.sealed``.
Ids sort by start time: ``20261122T163000Z-<session>-0001``. A ``.part`` file that no running
recorder holds is a crashed recorder's last segment; ``jobshadow.spool.recovery`` finalises it.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from jobshadow.crypto.sealed import OpenedSealed, SealedHeader, key_id, open_sealed
from jobshadow.durable import fsync_path
from jobshadow.errors import SegmentNotFound, WrongKey
from jobshadow.home import Home
from jobshadow.segment.reader import SegmentContent, parse
from jobshadow.spool.keys import SpoolKey

FINISHED = ".mcap.sealed"
OPEN = ".mcap.sealed.part"
_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}-\d{4}$")
MAX_SEGMENT_BYTES = 1024 * 1024 * 1024

SegmentState = Literal["finished", "open"]


@dataclass(frozen=True)
class SegmentFile:
    id: str
    path: Path
    state: SegmentState
    size: int
    mtime: float


def new_session_id() -> str:
    return secrets.token_hex(3)


def segment_id(session: str, index: int, when: datetime | None = None) -> str:
    when = when or datetime.now(UTC)
    return f"{when:%Y%m%dT%H%M%S}Z-{session}-{index:04d}"


def is_segment_id(text: str) -> bool:
    return bool(_ID.match(text))


class SpoolStore:
    def __init__(self, home: Home) -> None:
        self.home = home
        self.dir = home.segments_dir

    def open_path(self, seg_id: str) -> Path:
        return self.dir / f"{seg_id}{OPEN}"

    def final_path(self, seg_id: str) -> Path:
        return self.dir / f"{seg_id}{FINISHED}"

    def list(self) -> list[SegmentFile]:
        if not self.dir.exists():
            return []
        out: list[SegmentFile] = []
        for entry in os.scandir(self.dir):
            name = entry.name
            state: SegmentState
            if name.endswith(OPEN):
                seg_id, state = name[: -len(OPEN)], "open"
            elif name.endswith(FINISHED):
                seg_id, state = name[: -len(FINISHED)], "finished"
            else:
                continue
            if not is_segment_id(seg_id):
                continue
            st = entry.stat()
            out.append(SegmentFile(seg_id, Path(entry.path), state, st.st_size, st.st_mtime))
        out.sort(key=lambda s: s.id)
        return out

    def resolve(self, arg: str) -> Path:
        """A segment given as a path, an id, or a unique prefix of an id."""
        p = Path(arg)
        if p.exists():
            if p.is_dir():
                raise SegmentNotFound(f"{arg} is a directory, not a segment")
            return p
        segments = self.list()
        exact = [s for s in segments if s.id == arg]
        if exact:
            return exact[0].path
        matches = [s for s in segments if s.id.startswith(arg)] if arg else []
        if len(matches) == 1:
            return matches[0].path
        if len(matches) > 1:
            raise SegmentNotFound(f"{arg!r} matches {len(matches)} segments; give more of the id")
        raise SegmentNotFound(f"no segment {arg!r} (see `jobshadow segments list`)")

    def finalize(self, open_path: Path) -> Path:
        final = open_path.with_name(open_path.name[: -len(".part")])
        os.replace(open_path, final)
        fsync_path(final.parent)
        return final


def open_segment(path: Path, key: SpoolKey, *, allow_unfinished: bool = False) -> tuple[OpenedSealed, SegmentContent]:
    """Authenticate, decrypt and parse one segment file."""
    size = path.stat().st_size
    if size > MAX_SEGMENT_BYTES:
        raise SegmentNotFound(f"{path.name} is {size} bytes, larger than any segment jobshadow writes")

    def resolve(header: SealedHeader) -> bytes:
        raw = key.reveal()
        if header.key_id != key_id(raw):
            raise WrongKey(
                f"{path.name} was sealed with key {header.key_id}, not this JOBSHADOW_HOME's key "
                "(another device or home?)"
            )
        return raw

    with path.open("rb") as fh:
        opened = open_sealed(fh, resolve, name=path.name, allow_unfinished=allow_unfinished)
    content = parse(opened.plaintext, tolerant=allow_unfinished or not opened.complete, name=path.name)
    return opened, content
