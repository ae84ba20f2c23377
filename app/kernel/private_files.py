"""What the server writes is for its own user only: data dir 0700, files 0600.

Messages, memories and tool parameters live in the SQLite files; the JWT secret and the
database URLs (with passwords) beside them. The umask makes every file and directory the
process creates private (SQLite's WAL and shared-memory files take the database file's
mode); a data dir left readable by an older version is tightened at start, and each
SQLite file when it is opened.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077


def set_private_umask() -> None:
    """For the process: every file and directory it creates from now on is its own.
    Set by the CLI (and so for `serve` and its workers), not by `create_app`, which may
    run inside a process that makes files for others (a test harness)."""
    os.umask(PRIVATE_UMASK)


def keep_files_private(data_dir: Path) -> None:
    """The data dir exists, 0700, and holds no file others may read."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    tighten(data_dir, 0o700)
    for entry in data_dir.iterdir():
        if entry.is_file() and not entry.is_symlink():
            tighten(entry, 0o600)


def tighten(path: Path, mode: int) -> None:
    with contextlib.suppress(OSError):  # not ours to change: leave it, the owner decides
        info = path.stat()
        if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & PRIVATE_UMASK:
            path.chmod(stat.S_IMODE(info.st_mode) & ~PRIVATE_UMASK & mode)
