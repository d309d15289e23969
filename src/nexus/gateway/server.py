"""Run the gateway: get the listening socket, serve HTTP+WS with uvicorn, speak sd_notify.

The socket comes from, in order: ``--listen-fd N``; ``LISTEN_FDS``/``LISTEN_PID`` (fd 3, the systemd
and Nexus-supervisor convention); else the gateway binds it itself. An inherited socket is taken with
``socket.socket(fileno=fd)``, which detects the family (uvicorn's own ``--fd`` assumes AF_UNIX).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import socket
from collections.abc import Callable, Iterator, Mapping

import uvicorn

from nexus.common.gateway_token import ensure_token, read_token
from nexus.common.paths import NexusPaths
from nexus.common.sdnotify import Notifier, watchdog_interval
from nexus.config.schema import NexusConfig
from nexus.errors import NexusError
from nexus.gateway.app import build_app
from nexus.gateway.channels_host import start_channels
from nexus.gateway.http_protocol import with_header_timeout
from nexus.gateway.runner import ModelRouter
from nexus.gateway.runtime import GatewayRuntime
from nexus.protocol.messages import MAX_BODY_BYTES

log = logging.getLogger(__name__)

SD_LISTEN_FDS_START = 3


class StartupError(NexusError):
    """The gateway cannot start as configured; ``cause`` is one of port, config, auth, dependency."""

    def __init__(self, cause: str, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.cause = cause
        self.exit_code = exit_code


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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


async def serve(
    *,
    config: NexusConfig,
    paths: NexusPaths,
    router: ModelRouter,
    sock: socket.socket,
    environ: Mapping[str, str] | None = None,
    notifier: Notifier | None = None,
    handle_signals: bool = True,
    on_ready: Callable[[GatewayRuntime], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT (or until cancelled), then shut down in order."""
    env = os.environ if environ is None else environ
    log.info(
        "NEXUS_HOME %s (%s); config %s (%s)",
        paths.home,
        "from NEXUS_HOME" if env.get("NEXUS_HOME") else "default: NEXUS_HOME is not set",
        paths.config_file,
        "found" if paths.config_file.exists() else "absent: built-in defaults",
    )
    host, port = sock.getsockname()[:2]
    require_token_for_public_bind(str(host), paths, env)
    token = ensure_token(paths, env)
    notifier = notifier or Notifier.from_env(env)
    runtime = GatewayRuntime.open(config=config, paths=paths, router=router)
    app = build_app(runtime, token=token, port=int(port))
    limits = config.gateway
    uv_config = uvicorn.Config(
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
    server = _Server(uv_config)
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
    for sig in signals:
        # the handler only records; uvicorn's loop notices should_exit and shuts down in order
        loop.add_signal_handler(sig, _request_exit, server)
    heartbeat: asyncio.Task[None] | None = None
    stopper: asyncio.Task[None] | None = None
    await runtime.start()
    channels = await start_channels(runtime)
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="uvicorn")
    try:
        while not server.started:
            if serving.done():
                serving.result()
                raise StartupError("crash", "the HTTP server stopped before it started")
            await asyncio.sleep(0.005)
        log.info("gateway listening on %s:%s (pid %d)", host, port, os.getpid())
        notifier.notify("READY=1", f"STATUS=listening on {host}:{port}", f"MAINPID={os.getpid()}")
        if on_ready is not None:
            on_ready(runtime)
        if stop is not None:
            stopper = asyncio.create_task(_exit_when(stop, server), name="stopper")
        interval = watchdog_interval(env)
        if interval is not None:
            heartbeat = asyncio.create_task(_heartbeat(notifier, interval), name="watchdog")
        await serving
    finally:
        notifier.notify("STOPPING=1")
        for helper in (heartbeat, stopper):
            if helper is not None:
                helper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await helper
        if not serving.done():
            server.should_exit = True
            with contextlib.suppress(Exception):
                await serving
        await channels.stop()
        await runtime.close()
        for sig in signals:
            loop.remove_signal_handler(sig)


class _Server(uvicorn.Server):
    """uvicorn without its own signal capture, which would re-raise SIGTERM after shutdown and kill
    the process before the runtime closes; the gateway installs its own handlers instead."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _request_exit(server: uvicorn.Server) -> None:
    if server.should_exit:
        server.force_exit = True  # a second signal: stop waiting for open connections
    server.should_exit = True


async def _exit_when(stop: asyncio.Event, server: uvicorn.Server) -> None:
    await stop.wait()
    server.should_exit = True


async def _heartbeat(notifier: Notifier, interval: float) -> None:
    """WATCHDOG=1 from the event loop itself: a blocked loop stops the pings, and the watchdog sees it."""
    while True:
        notifier.notify("WATCHDOG=1")
        await asyncio.sleep(interval)
