"""``nexus chat``: the terminal UI, or plain line mode for scripts (``--plain``, or no TTY)."""

from __future__ import annotations

import sys
from typing import Any

import typer

DEFAULT_SESSION = "main"


def register(app: typer.Typer) -> None:
    app.command("chat", help="Chat with your assistant through the gateway (Esc aborts, /quit leaves).")(chat)


def chat(
    session: str = typer.Option(DEFAULT_SESSION, "--session", "-s", help="Conversation to open."),
    plain: bool = typer.Option(
        False, "--plain", help="Lines in, answers out (automatic when stdin or stdout is not a terminal)."
    ),
    port: int | None = typer.Option(None, "--port", help="Gateway port (default: nexus.toml, NEXUS_PORT)."),
    idle_timeout: float = typer.Option(
        30.0, "--idle-timeout", help="Seconds without an event before asking the gateway for the run."
    ),
    deadline: float = typer.Option(
        300.0, "--deadline", help="Seconds after which to stop waiting for an answer (the run stays)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Plain mode: no status lines on stderr."),
) -> None:
    """Open a conversation with the assistant."""
    from nexus.client import Deadlines

    if not session.strip() or len(session) > 200:
        raise typer.BadParameter("must be a non-empty name of at most 200 characters", param_hint="--session")
    try:
        deadlines = Deadlines(idle_s=idle_timeout, deadline_s=deadline)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--idle-timeout/--deadline") from exc
    endpoint = _endpoint(port)
    if plain or not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise typer.Exit(_plain(endpoint, session=session, deadlines=deadlines, quiet=quiet))
    from nexus.tui.app import ChatApp

    ChatApp(endpoint=endpoint, session=session, deadlines=deadlines).run()


def _endpoint(port: int | None) -> Any:
    from nexus.cli.gateway_endpoint import local_endpoint

    return local_endpoint("chat", port=port)


def _plain(endpoint: Any, *, session: str, deadlines: Any, quiet: bool) -> int:
    import asyncio
    import time

    from nexus.client import ChatEngine
    from nexus.tui.plain import StatusPrinter, run_plain, stdin_lines

    async def main() -> int:
        engine = ChatEngine(
            endpoint,
            session=session,
            deadlines=deadlines,
            give_up_if_not_running=True,
            on_change=(lambda _s: None) if quiet else StatusPrinter(sys.stderr),
        )
        return await run_plain(engine, stdin_lines(), out=sys.stdout, err=sys.stderr, now=time.monotonic)

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 130
