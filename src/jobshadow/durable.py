"""Making a change on disk durable: fsync of a file or a folder (every zone).

A rename or an unlink is durable only once the folder holding it is fsynced; a file's bytes once
the file is. Every writer that promises durability (the spool, the uploader's outbox, private
files under JOBSHADOW_HOME, the server's object store and dataset folders) calls this one
function. Imports nothing from jobshadow.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_path(path: Path | str, *, missing_ok: bool = False) -> None:
    """fsync ``path`` (a file or a folder); ``missing_ok``: a path that is gone is not an error."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        if missing_ok:
            return
        raise
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
