"""``nexus gateway run`` and ``nexus token``."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from typing import Any

import typer

from nexus.errors import EX_CONFIG

gateway_app = typer.Typer(
    help="Run the gateway process (normally started by `nexus up`).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(gateway_app, name="gateway")
    app.command("token", help="Print the gateway client token (created on first use, mode 0600).")(token)


def token() -> None:
    from nexus.common.gateway_token import ensure_token
    from nexus.common.paths import NexusPaths

    paths = NexusPaths.from_env()
    paths.ensure()
    typer.echo(ensure_token(paths).reveal())


@gateway_app.command("run")
def run(
    port: int | None = typer.Option(None, "--port", help="Port to bind (overrides config and NEXUS_PORT)."),
    listen_fd: int | None = typer.Option(
        None, "--listen-fd", help="Serve on this inherited listening socket."
    ),
    log_level: str | None = typer.Option(
        None, "--log-level", help="debug, info, warning or error (default: [logging] level)."
    ),
) -> None:
    """Serve HTTP and WebSocket on one port until SIGTERM."""
    from nexus.common.paths import NexusPaths

    paths = NexusPaths.from_env()
    configure_logging(log_level or "info")
    try:
        code = _run(paths, port=port, listen_fd=listen_fd, log_level=log_level)
    except KeyboardInterrupt:
        code = 0
    raise typer.Exit(code)


def _run(paths: Any, *, port: int | None, listen_fd: int | None, log_level: str | None = None) -> int:
    import asyncio

    from nexus.auth import UnreliableFilesystem
    from nexus.config import ConfigError, load_config
    from nexus.gateway.assemble import serve
    from nexus.gateway.server import StartupError, acquire_socket, require_token_for_public_bind
    from nexus.store import StoreError

    try:
        paths.ensure()
        config = load_config(paths)
        if port is not None:
            config = config.model_copy(update={"gateway": config.gateway.model_copy(update={"port": port})})
        require_token_for_public_bind(config.gateway.bind, paths, os.environ)
        # after the check above, which must see whether a token existed before this start
        configure_logging(log_level or config.logging.level, config=config, paths=paths)
        sock = acquire_socket(
            config.gateway.bind, config.gateway.port, listen_fd=listen_fd, environ=os.environ
        )
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(serve(config=config, paths=paths, sock=sock))
    except ConfigError as exc:
        return fatal(paths, "config", str(exc), EX_CONFIG)
    except StartupError as exc:
        return fatal(paths, exc.cause, str(exc), exc.exit_code)
    except UnreliableFilesystem as exc:
        return fatal(paths, "auth", str(exc), EX_CONFIG)
    except StoreError as exc:
        return fatal(paths, "dependency", str(exc), 1)
    except ImportError as exc:
        return fatal(paths, "dependency", f"a dependency failed to import: {exc}; reinstall Nexus", 1)
    except Exception as exc:
        logging.getLogger("nexus.gateway").exception("gateway crashed")
        return fatal(paths, "crash", f"{type(exc).__name__}: {exc}", 1)
    return 0


def event_loop_factory() -> Any:
    """uvloop where it is installed (Linux, macOS): the same asyncio API at a fraction of the CPU per
    request; the standard loop otherwise (``NEXUS_LOOP=asyncio`` forces it)."""
    if os.environ.get("NEXUS_LOOP", "").lower() == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def fatal(paths: Any, cause: str, message: str, code: int) -> int:
    """Say why on stderr and leave the cause where the supervisor reads it."""
    from nexus.common.atomic import atomic_write_text

    typer.echo(f"nexus gateway: {message}", err=True)
    record = {"cause": cause, "message": message, "pid": os.getpid(), "time": time.time(), "exit_code": code}
    with contextlib.suppress(OSError):
        atomic_write_text(paths.run / "gateway-last-error.json", json.dumps(record), mode=0o600)
    return code


def configure_logging(level: str, *, config: Any = None, paths: Any = None) -> None:
    """Text on stderr until the config is read; then its ``[logging]`` format, and under no supervisor
    (which copies stderr into ``logs/gateway.log``) the rotating file too. The gateway token is
    registered with the redactor: it has no shape a pattern could find."""
    from nexus.common import logsetup
    from nexus.common.gateway_token import ensure_token

    if config is None or paths is None:
        logsetup.configure(level=level, stream=sys.stderr)
        return
    supervised = bool(os.environ.get("NEXUS_SUPERVISOR_ID"))
    redactor = logsetup.configure(
        level=level,
        fmt=config.logging.format,
        stream=sys.stderr,
        file=None if supervised else paths.logs / "gateway.log",
        max_bytes=config.logging.max_bytes,
        backups=config.logging.backups,
    )
    redactor.add(ensure_token(paths).reveal())
