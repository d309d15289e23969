"""The gateway's process edges: the listening socket, uvicorn as configured, sd_notify heartbeats.
(What runs on them is wired in :mod:`nexus.gateway.assemble`.)

The socket comes from, in order: ``--listen-fd N``; ``LISTEN_FDS``/``LISTEN_PID`` (fd 3, the systemd
and Nexus-supervisor convention); else the gateway binds it itself. An inherited socket is taken with
``socket.socket(fileno=fd)``, which detects the family (uvicorn's own ``--fd`` assumes AF_UNIX).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Iterator, Mapping

import uvicorn
from starlette.types import ASGIApp

from nexus.common.gateway_token import read_token
from nexus.common.net import is_loopback
from nexus.common.paths import NexusPaths
from nexus.common.sdnotify import Notifier
from nexus.config.schema import GatewayConfig
from nexus.errors import NexusError
from nexus.gateway.http_protocol import with_header_timeout
from nexus.protocol.messages import MAX_BODY_BYTES

log = logging.getLogger(__name__)

SD_LISTEN_FDS_START = 3


class StartupError(NexusError):
    """The gateway cannot start as configured; ``cause`` is one of port, config, auth, dependency."""

    def __init__(self, cause: str, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.cause = cause
        self.exit_code = exit_code


def inherited_fd(environ: Mapping[str, str], *, pid: int | None = None) -> int | None:
    """fd 3 when ``LISTEN_FDS``/``LISTEN_PID`` say a socket was passed to this very process."""
    if environ.get("LISTEN_PID") != str(pid if pid is not None else os.getpid()):
        return None
    try:
        count = int(environ.get("LISTEN_FDS", "0"))
    except ValueError:
        return None
    return SD_LISTEN_FDS_START if count >= 1 else None


def acquire_socket(
    host: str, port: int, *, listen_fd: int | None, environ: Mapping[str, str]
) -> socket.socket:
    fd = listen_fd if listen_fd is not None else inherited_fd(environ)
    if fd is not None:
        try:
            sock = socket.socket(fileno=fd)
        except OSError as exc:
            raise StartupError("port", f"inherited fd {fd} is not a socket: {exc}") from exc
        sock.set_inheritable(False)
        for name in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
            os.environ.pop(name, None)  # never leak the socket contract to our own children
        return sock
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP, not 0: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # says TCP, and without it every small response waits ~40 ms for the client's delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise StartupError(
            "port",
            f"cannot bind {host}:{port}: {exc.strerror}. Another process holds the port: "
            f"`nexus doctor` names it; or start the gateway under `nexus up`, which owns the port",
        ) from exc
    sock.listen(1024)
    return sock


def require_token_for_public_bind(host: str, paths: NexusPaths, environ: Mapping[str, str]) -> None:
    """Beyond loopback, anyone on the network could drive the assistant: insist on a deliberate token."""
    if not is_loopback(host) and read_token(paths, environ) is None:
        raise StartupError(
            "config",
            f"refusing to listen on non-loopback address {host} without a gateway token: run `nexus token` "
            'to create one (clients then send it as a Bearer token), or set gateway.bind = "127.0.0.1"',
            exit_code=78,
        )


def http_server(app: ASGIApp, limits: GatewayConfig) -> uvicorn.Server:
    """uvicorn as the gateway runs it: httptools with a header timeout, the sans-I/O WebSocket, the
    connection cap and the idle timeout of ``[gateway]``, no access log, no signal capture."""
    return _Server(
        uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="off",
            http=with_header_timeout(limits.header_timeout_s),
            ws="websockets-sansio",
            ws_ping_interval=20.0,
            ws_ping_timeout=20.0,
            ws_max_size=MAX_BODY_BYTES,
            timeout_keep_alive=limits.idle_timeout_s,  # type: ignore[arg-type]  (a float works: call_later)
            limit_concurrency=limits.max_connections,
            timeout_graceful_shutdown=5,
        )
    )


class _Server(uvicorn.Server):
    """uvicorn without its own signal capture, which would re-raise SIGTERM after shutdown and kill
    the process before the runtime closes; the gateway installs its own handlers instead."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def request_exit(server: uvicorn.Server) -> None:
    """The signal handler: it only records; the serving loop notices and stops in order."""
    if server.should_exit:
        server.force_exit = True  # a second signal: stop waiting for open connections
    server.should_exit = True


async def heartbeat(notifier: Notifier, interval: float) -> None:
    """WATCHDOG=1 from the event loop itself: a blocked loop stops the pings, and the watchdog sees it."""
    while True:
        notifier.notify("WATCHDOG=1")
        await asyncio.sleep(interval)
