"""The supervisor owns the listening socket and hands it to each generation as fd 3.

Why: a restart then never fights anyone for the port, and clients that connect while the gateway is
down wait in the kernel backlog instead of being refused. When the port is taken by a process that is
not ours we never kill it: :func:`port_holder` names it so the owner can decide.
"""

from __future__ import annotations

import errno
import fcntl
import socket
from dataclasses import dataclass

import psutil

LISTEN_FD = 3
"""systemd's SD_LISTEN_FDS_START: the first inherited socket is always fd 3."""
BACKLOG = 1024


class PortInUse(OSError):
    """``bind`` failed with EADDRINUSE."""


def bind_listener(host: str, port: int, *, backlog: int = BACKLOG) -> socket.socket:
    """A listening TCP socket on ``host:port``, close-on-exec and never at fd 3 (see ``child.spawn``)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(exc.errno, f"{host}:{port} is already in use") from exc
            raise
        sock.listen(backlog)
        high = fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD_CLOEXEC, 10)
    except BaseException:
        sock.close()
        raise
    sock.close()
    return socket.socket(fileno=high)


@dataclass(frozen=True)
class PortHolder:
    pid: int | None
    user: str | None
    cmdline: str | None

    def describe(self) -> str:
        if self.pid is None:
            return "a process this user cannot see (another user's, or in another namespace)"
        return f"pid {self.pid} (user {self.user or '?'}): {self.cmdline or '?'}"


def port_holder(port: int) -> PortHolder:
    """Who listens on TCP ``port``; pid None when the kernel would not tell us."""
    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        conns = []
    for conn in conns:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            try:
                proc = psutil.Process(conn.pid)
                return PortHolder(conn.pid, proc.username(), " ".join(proc.cmdline()) or proc.name())
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                return PortHolder(conn.pid, None, None)
    return PortHolder(None, None, None)
