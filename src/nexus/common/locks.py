"""Host-wide advisory locks with ``flock``, bounded waits, and lock files that are never deleted.

Why flock and not a pidfile: the kernel drops a flock when its holder dies (even by SIGKILL), so a
crashed holder can never wedge the others, and there is no "is that pid still ours?" guess.
Why never delete the lock file: deleting it lets a waiter lock the old inode while a newcomer locks a
new one, and then two processes both believe they hold the lock.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from nexus.errors import LockTimeout


class FileLock:
    """An exclusive ``flock`` on ``path``; blocking acquisition polls so every wait has a bound."""

    def __init__(self, path: Path, *, poll_interval: float = 0.01) -> None:
        self.path = Path(path)
        self._poll = poll_interval
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if free; return False at once if another holder has it."""
        if self._fd is not None:
            raise RuntimeError(f"lock {self.path} is already held by this object")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise
        self._fd = fd
        return True

    def acquire(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the lock, then raise :class:`LockTimeout`."""
        deadline = time.monotonic() + timeout
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                raise LockTimeout(
                    f"could not lock {self.path} within {timeout:.1f}s (held by another process)"
                )
            time.sleep(self._poll)

    async def acquire_async(self, timeout: float) -> None:
        """Like :meth:`acquire` without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                raise LockTimeout(
                    f"could not lock {self.path} within {timeout:.1f}s (held by another process)"
                )
            await asyncio.sleep(self._poll)

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def write_owner(self, text: str) -> None:
        """Record who holds the lock (for humans and status), inside the lock file itself."""
        if self._fd is None:
            raise RuntimeError("write_owner needs the lock held")
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, text.encode(), 0)

    def read_owner(self) -> str:
        try:
            return self.path.read_text()
        except OSError:
            return ""

    def __enter__(self) -> FileLock:
        if not self.try_acquire():
            raise LockTimeout(f"{self.path} is held by another process")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
