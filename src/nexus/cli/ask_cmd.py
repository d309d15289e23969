"""``nexus ask "TEXT"``: one answer without a gateway, for scripts and cron.

It uses the same credential store, locks and refresh protocol as the gateway, so a cron job and a
running gateway share an OAuth login safely (the incident's sibling clash cannot happen between them).
Exit codes: 0 answered, 1 every model failed (reasons on stderr), 2 nothing is configured, 78 config.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from typing import Any

import typer

from nexus.errors import EX_CONFIG

EX_FAILED = 1
EX_UNCONFIGURED = 2


def register(app: typer.Typer) -> None:
    app.command("ask", help="Ask once and print the answer (no gateway needed).")(ask)


def ask(
    text: str = typer.Argument(..., help='The question; "-" reads it from stdin.'),
    model: str | None = typer.Option(None, "--model", help="Pin one model (provider/model): no fallback."),
    system: str | None = typer.Option(None, "--system", help="A system prompt."),
    as_json: bool = typer.Option(False, "--json", help="Print {text, model, profile, fell_back} as JSON."),
    force: bool = typer.Option(
        False, "--force", help="Use an auth store on a filesystem where flock is unreliable."
    ),
) -> None:
    """Answer one question from the configured model chain, with fallbacks."""
    import asyncio

    from nexus.auth.errors import AuthError
    from nexus.common.paths import NexusPaths
    from nexus.config import ConfigError, ModelRef, load_config

    logging.basicConfig(level=logging.WARNING, format="nexus ask: %(levelname)s %(name)s: %(message)s")
    question = sys.stdin.read() if text == "-" else text
    if not question.strip():
        typer.echo('nexus ask: the question is empty: pass it as an argument, or "-" to read stdin', err=True)
        raise typer.Exit(EX_FAILED)
    paths = NexusPaths.from_env()
    try:
        config = load_config(paths)
        pinned = ModelRef.parse(model) if model else None
    except ConfigError as exc:
        typer.echo(f"nexus ask: {exc}", err=True)
        raise typer.Exit(EX_CONFIG) from exc
    except ValueError as exc:
        typer.echo(f"nexus ask: --model: {exc}", err=True)
        raise typer.Exit(EX_FAILED) from exc
    try:
        code, out = asyncio.run(_ask(config, paths, question, pinned=pinned, system=system, force=force))
    except ConfigError as exc:
        typer.echo(f"nexus ask: {exc}", err=True)
        raise typer.Exit(EX_CONFIG) from exc
    except AuthError as exc:
        typer.echo(f"nexus ask: {exc}", err=True)
        raise typer.Exit(EX_FAILED) from exc
    if code == 0:
        typer.echo(json.dumps(out) if as_json else out["text"])
    else:
        typer.echo(f"nexus ask: {out['error']}", err=True)
    raise typer.Exit(code)


async def _ask(
    config: Any, paths: Any, question: str, *, pinned: Any, system: str | None, force: bool
) -> tuple[int, dict[str, Any]]:
    from nexus.auth import open_credentials
    from nexus.models.factory import build_router
    from nexus.models.turn import NoProviderConfigured, Turn, TurnFailed
    from nexus.models.types import ChatMessage

    credentials = open_credentials(config, paths, force_unreliable_fs=force or None)
    router = build_router(config, paths, credentials)
    turn = Turn(
        run_id=f"ask-{uuid.uuid4().hex[:12]}",
        messages=(ChatMessage(role="user", content=question),),
        system=system,
        pinned=pinned,
    )
    try:
        result = await router.complete(turn, lambda event: None)
    except NoProviderConfigured as exc:
        return EX_UNCONFIGURED, {"error": str(exc)}
    except TurnFailed as exc:
        return EX_FAILED, {"error": exc.summary}
    finally:
        await router.aclose()
    return 0, {
        "text": result.text,
        "model": result.model,
        "profile": result.profile,
        "fell_back": result.fell_back,
    }
