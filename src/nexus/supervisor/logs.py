"""Log files under ``logs/``: size-rotated (``name.log``, ``name.log.1`` ... oldest last).

The gateway writes to a pipe, never to a file: the supervisor copies the pipe into the rotating file,
so rotation never loses lines and a full disk never blocks the gateway's event loop for long.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path
from typing import TextIO

from nexus.common.logsetup import PrivateRotatingFileHandler

MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5
SUPERVISOR_LOG = "supervisor.log"
GATEWAY_LOG = "gateway.log"


def rotating_handler(path: Path, *, max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> logging.Handler:
    path.parent.mkdir(parents=True, exist_ok=True)
    # 0600 for every file, the ones after a rollover too (a plain RotatingFileHandler makes them 0644)
    return PrivateRotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")


def supervisor_logger(path: Path, *, echo: bool) -> logging.Logger:
    """The supervisor's own log: the rotating file ``path``, and stderr when running in the foreground."""
    logger = logging.getLogger("nexus.supervisor")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for old in list(logger.handlers):
        logger.removeHandler(old)
        old.close()
    fmt = logging.Formatter("%(asctime)s supervisor[%(process)d] %(levelname)s %(message)s")
    handler = rotating_handler(path)
    handler.setFormatter(fmt)
    logger.addHandler(handler)
    if echo:
        err = logging.StreamHandler(sys.stderr)
        err.setFormatter(fmt)
        logger.addHandler(err)
    return logger


class OutputPump:
    """Copies a child's output pipe into ``gateway.log`` line by line (and to stderr when echoing)."""

    def __init__(self, path: Path, *, echo: bool = False) -> None:
        self._logger = logging.getLogger(f"nexus.supervisor.output.{path.stem}")
        self._logger.setLevel(logging.INFO)
        self._logger.propagate = False
        for old in list(self._logger.handlers):
            self._logger.removeHandler(old)
            old.close()
        handler = rotating_handler(path)
        handler.setFormatter(logging.Formatter("%(message)s"))
        self._logger.addHandler(handler)
        if echo:
            err = logging.StreamHandler(sys.stderr)
            err.setFormatter(logging.Formatter("gateway | %(message)s"))
            self._logger.addHandler(err)
        self._partial = b""

    def feed(self, fd: int) -> bool:
        """Read what is available; False at end of file (every writer closed the pipe)."""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not chunk:
                self.flush()
                return False
            data = self._partial + chunk
            *lines, self._partial = data.split(b"\n")
            for line in lines:
                self._logger.info(line.decode("utf-8", "replace"))

    def flush(self) -> None:
        if self._partial:
            self._logger.info(self._partial.decode("utf-8", "replace"))
            self._partial = b""

    def close(self) -> None:
        self.flush()
        for handler in list(self._logger.handlers):
            self._logger.removeHandler(handler)
            handler.close()


def rotated_files(path: Path, backups: int = BACKUPS) -> list[Path]:
    """Oldest first: ``name.log.5`` ... ``name.log.1``, ``name.log``."""
    files = [path.with_name(f"{path.name}.{i}") for i in range(backups, 0, -1)]
    return [p for p in [*files, path] if p.exists()]


def tail_lines(path: Path, count: int) -> list[str]:
    """The last ``count`` lines across the rotated files (none for ``count <= 0``)."""
    if count <= 0:
        return []
    lines: list[str] = []
    for file in reversed(rotated_files(path)):
        try:
            chunk = file.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        lines = chunk + lines
        if len(lines) >= count:
            break
    return lines[-count:]


class Follower:
    """Lines appended to one log file since the last :meth:`poll`, across rotations (the file is
    reopened when its inode changes or it shrinks, after the rest of the old one is read)."""

    def __init__(self, path: Path, *, from_start: bool = False) -> None:
        self.path = path
        self._handle: TextIO | None = None
        self._inode: int | None = None
        self._from_start = from_start

    def poll(self) -> list[str]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            if self._handle is None:
                self._from_start = True  # when it appears, all of it is new
            return []
        lines: list[str] = []
        if self._handle is None or st.st_ino != self._inode or st.st_size < self._handle.tell():
            at_end = self._handle is None and not self._from_start
            if self._handle is not None:
                lines += self._handle.read().splitlines()
                self._handle.close()
            self._from_start = True  # every file after the first is read whole
            self._handle = self.path.open("r", encoding="utf-8", errors="replace")
            self._inode = st.st_ino
            if at_end:
                self._handle.seek(0, os.SEEK_END)
        chunk = self._handle.read()
        if chunk:
            lines += chunk.splitlines()
        return lines

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
