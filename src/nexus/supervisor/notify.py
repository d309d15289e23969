"""The receiving side of sd_notify: a unix datagram socket the child finds in ``NOTIFY_SOCKET``.

The child sends ``READY=1``, ``WATCHDOG=1``, ``STATUS=...``, ``STOPPING=1`` lines, exactly as it would to
systemd (so the same gateway runs under ``Type=notify``). On Linux the socket is abstract (no path,
no length limit, nothing to clean up) and the kernel tells us the sender's pid (``SO_PASSCRED``), so a
late message from a dead generation is ignored.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

_UCRED = struct.Struct("3i")


def parse_notify(data: bytes) -> dict[str, str]:
    """``KEY=VALUE`` lines to a dict; malformed lines are dropped (the sender is not trusted)."""
    fields: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep and key and key.replace("_", "").isalnum() and key.isupper():
            fields[key] = value
    return fields


@dataclass(frozen=True)
class Notification:
    pid: int | None
    """Sender pid from the kernel, None where credentials are not available."""
    fields: dict[str, str]


class NotifySocket:
    """A bound datagram socket; ``address`` is what goes into the child's ``NOTIFY_SOCKET``."""

    def __init__(self, name: str, *, fallback_dir: Path) -> None:
        self._path: Path | None = None
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._creds = hasattr(socket, "SO_PASSCRED")
        try:
            if sys.platform.startswith("linux"):
                self._sock.bind("\0" + name)
                self.address = "@" + name
            else:
                self._path = fallback_dir / "notify.sock"
                with contextlib.suppress(FileNotFoundError):
                    self._path.unlink()
                self._sock.bind(str(self._path))
                self.address = str(self._path)
            if self._creds:
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            self._sock.setblocking(False)
        except BaseException:
            self._sock.close()
            raise

    def fileno(self) -> int:
        return self._sock.fileno()

    def drain(self) -> list[Notification]:
        """Every datagram waiting now (never blocks)."""
        out: list[Notification] = []
        while True:
            try:
                data, ancdata, _flags, _addr = self._sock.recvmsg(4096, socket.CMSG_SPACE(_UCRED.size))
            except (BlockingIOError, InterruptedError):
                return out
            pid = None
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == getattr(socket, "SCM_CREDENTIALS", -1):
                    pid = _UCRED.unpack(payload[: _UCRED.size])[0]
            out.append(Notification(pid, parse_notify(data)))

    def close(self) -> None:
        self._sock.close()
        if self._path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._path)


def send_notify(address: str, message: str) -> None:
    """Client side, for tests and tiny children: send one sd_notify datagram."""
    target = "\0" + address[1:] if address.startswith("@") else address
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(message.encode(), target)
