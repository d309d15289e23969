"""The sending side of the sd_notify protocol (READY=1, WATCHDOG=1, STATUS=..., STOPPING=1).

Spoken to systemd (``Type=notify``) and to Nexus's own supervisor alike: one datagram per message to
the unix socket named by ``NOTIFY_SOCKET`` (``@name`` is the abstract namespace).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Mapping


class Notifier:
    """Sends notifications; a no-op when no ``NOTIFY_SOCKET`` was given."""

    def __init__(self, address: str | None) -> None:
        self._address: str | bytes | None = None
        self._sock: socket.socket | None = None
        if address:
            self._address = "\0" + address[1:] if address.startswith("@") else address
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.setblocking(False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        return cls(env.get("NOTIFY_SOCKET"))

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def notify(self, *lines: str) -> bool:
        """Send ``lines`` as one datagram; False if nobody listens (never raises)."""
        if self._sock is None or self._address is None:
            return False
        try:
            self._sock.sendto("\n".join(lines).encode(), self._address)
        except OSError:
            return False
        return True

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None


def watchdog_interval(environ: Mapping[str, str] | None = None, *, default: float = 1.0) -> float | None:
    """Seconds between WATCHDOG=1 pings: half of ``WATCHDOG_USEC``, else ``default`` under a notifier."""
    env = os.environ if environ is None else environ
    if not env.get("NOTIFY_SOCKET"):
        return None
    raw = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    if raw:
        try:
            return max(int(raw) / 2_000_000, 0.05)
        except ValueError:
            return default
    return default
