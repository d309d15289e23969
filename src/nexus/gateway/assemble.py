"""The composition root: every part of a running gateway is built here, started in order, and
stopped in the reverse order. Read top to bottom, :func:`serve` is the gateway's start-up.

Start: credentials and router (the real ones unless a test injects them) -> runtime (opens the store,
resumes what a crash interrupted, syncs ``[[cron]]`` and settles fires that ended while down) ->
HTTP app -> channels -> scheduler (one per home, by lease) -> uvicorn on the socket -> READY ->
auth link -> alert watcher. (No model warm-up: the adapters speak httpx, there is no SDK to import.)

Stop (SIGTERM, ``stop`` set, or cancelled): scheduler (releases its lease) -> alert watcher -> auth
link -> HTTP server (drains open requests) -> channels (their outboxes are durable) -> runtime
(lanes hand running runs back, router, store). Nothing started is left running, whichever step failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable, Mapping
from typing import Any

from nexus.alerts import Alerter
from nexus.auth import CombinedSource, open_credentials
from nexus.common.gateway_token import ensure_token
from nexus.common.paths import NexusPaths
from nexus.common.sdnotify import Notifier, watchdog_interval
from nexus.config.schema import NexusConfig
from nexus.gateway import tracing
from nexus.gateway.alerting import AlertWatcher
from nexus.gateway.app import build_app
from nexus.gateway.auth_link import link_auth
from nexus.gateway.channels_host import start_channels
from nexus.gateway.runner import ModelRouter
from nexus.gateway.runtime import GatewayRuntime
from nexus.gateway.server import (
    StartupError,
    heartbeat,
    http_server,
    request_exit,
    require_token_for_public_bind,
)

log = logging.getLogger("nexus.gateway")


def build_model_layer(
    config: NexusConfig, paths: NexusPaths, *, credentials: CombinedSource | None = None
) -> tuple[CombinedSource, ModelRouter]:
    """The real credentials and router (the models layer's factory decides the providers)."""
    from nexus.models.factory import build_router

    credentials = credentials or open_credentials(config, paths)
    return credentials, build_router(config, paths, credentials)


async def serve(
    *,
    config: NexusConfig,
    paths: NexusPaths,
    sock: socket.socket,
    router: ModelRouter | None = None,
    credentials: CombinedSource | None = None,
    environ: Mapping[str, str] | None = None,
    notifier: Notifier | None = None,
    handle_signals: bool = True,
    on_ready: Callable[[GatewayRuntime], None] | None = None,
    stop: asyncio.Event | None = None,
    channel_options: Mapping[str, Any] | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT, ``stop``, or cancellation, then stop in order.

    ``router`` given without ``credentials`` (tests): no credential store is linked, and alerts see
    no profiles. ``channel_options`` go to the channel manager (manifests, factories: tests).
    """
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
    if router is None:
        credentials, router = build_model_layer(config, paths, credentials=credentials)
    options = dict(channel_options or {})

    runtime = GatewayRuntime.open(config=config, paths=paths, router=router)
    app = build_app(runtime, token=token, port=int(port))
    tracer = tracing.attach(runtime)  # None, at no cost, unless [tracing] is enabled and the SDK installed
    server = http_server(app, config.gateway)
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
    for sig in signals:
        # the handler only records; uvicorn's loop notices should_exit and shuts down in order
        loop.add_signal_handler(sig, request_exit, server)
    helpers: list[asyncio.Task[None]] = []
    unlink_auth: Callable[[], None] | None = None
    watcher: AlertWatcher | None = None
    channels = None
    serving: asyncio.Task[None] | None = None
    try:
        await runtime.start()
        channels = await start_channels(runtime, **options)
        runtime.scheduler.start()  # after the channels: a fire may deliver its answer at once
        serving = asyncio.create_task(server.serve(sockets=[sock]), name="uvicorn")
        while not server.started:
            if serving.done():
                serving.result()
                raise StartupError("crash", "the HTTP server stopped before it started")
            await asyncio.sleep(0.005)
        log.info("gateway listening on %s:%s (pid %d)", host, port, os.getpid())
        notifier.notify("READY=1", f"STATUS=listening on {host}:{port}", f"MAINPID={os.getpid()}")
        if credentials is not None:
            unlink_auth = link_auth(runtime, credentials)
        alerts = config.alerts
        watcher = AlertWatcher(
            runtime,
            Alerter.from_config(alerts, paths),
            credentials.profiles_report if credentials is not None else list,
            interval_s=alerts.check_interval_s,
            models_down_after_s=alerts.models_down_after_s,
        )
        watcher.start()
        if on_ready is not None:
            on_ready(runtime)
        if stop is not None:
            helpers.append(asyncio.create_task(_exit_when(stop, server), name="stopper"))
        interval = watchdog_interval(env)
        if interval is not None:
            helpers.append(asyncio.create_task(heartbeat(notifier, interval), name="watchdog"))
        await serving
    finally:
        notifier.notify("STOPPING=1")
        await runtime.scheduler.stop()  # first: no new fire while the rest stops; lease released
        if watcher is not None:
            await watcher.stop()
        if unlink_auth is not None:
            unlink_auth()
        for helper in helpers:
            helper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await helper
        if serving is not None and not serving.done():
            server.should_exit = True
            with contextlib.suppress(Exception):
                await serving
        if channels is not None:
            await channels.stop()
        await runtime.close()
        if tracer is not None:
            tracer.shutdown()
        for sig in signals:
            loop.remove_signal_handler(sig)


async def _exit_when(stop: asyncio.Event, server: Any) -> None:
    await stop.wait()
    server.should_exit = True
