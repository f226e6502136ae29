"""Redacting image files: PNG/JPEG frames in, redacted PNGs out (``jobshadow redact frames``).

Inputs are checked before anything is read into the redactor (they exist, are PNG or JPEG, are
not larger than ``MAX_BYTES`` or ``MAX_PIXELS``, do not share a name, and the output directory
is not an input's directory, so an original can never be overwritten by its own redaction).
The files are given to one ``StreamRedactor`` in the order given, so consecutive frames of a
recording are read only where they changed; images of different sizes start a new stream.

Outputs are screen images: the directory is created (or tightened) to 0700 and every file is
written 0600, through a temporary name, so a reader never sees half a file. A frame whose
redaction fails is not written.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from jobshadow.errors import InputError
from jobshadow.redact.model import RedactionResult
from jobshadow.redact.stream import MAX_PIXELS, StreamRedactor

if TYPE_CHECKING:
    import numpy as np

MAX_BYTES = 64 * 1024 * 1024
SUFFIXES = {".png", ".jpg", ".jpeg"}


@dataclass
class FileOutcome:
    source: Path
    written: Path | None
    result: RedactionResult


@dataclass
class FilesReport:
    outcomes: list[FileOutcome] = field(default_factory=list)
    cpu_seconds: float = 0.0

    @property
    def failed(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.result.failed]

    def as_json(self) -> dict[str, object]:
        frames: list[dict[str, object]] = []
        for o in self.outcomes:
            entry: dict[str, object] = {"file": o.source.name, "findings": o.result.findings_json()}
            if o.result.failed:
                entry["failed"] = True
                entry["reason"] = o.result.reason
            frames.append(entry)
        n = len(self.outcomes)
        return {"frames": frames, "seconds_per_frame": round(self.cpu_seconds / n, 4) if n else 0.0}


def check_inputs(paths: Sequence[Path], out_dir: Path) -> None:
    """Raise ``InputError`` with a one-line reason for the first input that cannot be used."""
    if not paths:
        raise InputError("no images given")
    out = out_dir.resolve()
    names: dict[str, Path] = {}
    for p in paths:
        if not p.is_file():
            raise InputError(f"{p}: no such file")
        if p.suffix.lower() not in SUFFIXES:
            raise InputError(f"{p}: not a PNG or JPEG file name")
        if p.stat().st_size > MAX_BYTES:
            raise InputError(f"{p}: larger than {MAX_BYTES // (1024 * 1024)} MiB")
        if p.resolve().parent == out:
            raise InputError(f"{p}: the output directory must not be the input's directory")
        name = p.stem + ".png"
        if name in names:
            raise InputError(f"{p} and {names[name]} would both be written as {name}")
        names[name] = p


def check_image(path: Path) -> None:
    """Read ``path``'s header only: a PNG or JPEG within ``MAX_PIXELS``, else ``InputError``."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            fmt, width, height = img.format, img.width, img.height
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable image ({type(exc).__name__})") from None
    if fmt not in ("PNG", "JPEG"):
        raise InputError(f"{path}: not a PNG or JPEG image")
    if width * height > MAX_PIXELS:
        raise InputError(f"{path}: {width}x{height} is larger than {MAX_PIXELS} pixels")


def load(path: Path) -> np.ndarray:
    """The image as an H x W x 3 uint8 array (its header was checked)."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as img:
        img.load()
        return np.asarray(img.convert("RGB"))


def prepare_out_dir(out_dir: Path) -> None:
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(out_dir, 0o700)


def write_png(image: np.ndarray, dest: Path) -> None:
    from PIL import Image

    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            Image.fromarray(image).save(fh, format="PNG")
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def redact_files(paths: Sequence[Path], out_dir: Path, *, redactor: StreamRedactor | None = None,
                 progress: Callable[[int, int], None] | None = None) -> FilesReport:
    """Redact ``paths`` in order into ``out_dir``; failed frames are reported, not written."""
    check_inputs(paths, out_dir)
    for p in paths:  # every input is checked before any output is written
        check_image(p)
    prepare_out_dir(out_dir)
    redactor = redactor or StreamRedactor()
    report = FilesReport()
    t0 = time.process_time()
    for i, path in enumerate(paths):
        try:
            image = load(path)
        except (OSError, ValueError) as exc:  # damaged after its header: fails like a frame
            result = RedactionResult(None, (), 0.0, failed=True, reason=f"unreadable image ({type(exc).__name__})")
        else:
            result = redactor.redact(image)
        written = None
        if not result.failed and result.image is not None:
            written = out_dir / (path.stem + ".png")
            write_png(result.image, written)
        report.outcomes.append(FileOutcome(path, written, result))
        if progress is not None:
            progress(i + 1, len(paths))
    report.cpu_seconds = time.process_time() - t0
    return report
