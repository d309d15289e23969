"""``nexus models`` (the chain, cooldowns, last outcome per candidate), ``probe`` and ``reset``.

All read the same config and credential store as the gateway; ``models`` sends no request and reads
the cooldowns the gateway persisted; ``probe`` sends one minimal real request per candidate (never
"ok" for an expired or revoked credential: those are reported unusable without a request), changes
no cooldown and says which candidates the gateway is still skipping; ``reset`` clears cooldowns in
``run/cooldowns.json``, which a running gateway re-reads before its next message.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import typer

from nexus.errors import EX_CONFIG

models_app = typer.Typer(
    help="The model chain: candidates, cooldowns, last outcomes; `probe` tests each one.",
    invoke_without_command=True,
)

CredentialsFactory = Callable[[Any, Any], Any]


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")


def default_credentials(config: Any, paths: Any) -> Any:
    """The gateway's credential source (profile store + environment); environment only if the store
    cannot be used here (the reason goes to stderr)."""
    from nexus.auth import open_credentials
    from nexus.auth.errors import AuthError
    from nexus.auth.source import env_source

    try:
        return open_credentials(config, paths)
    except AuthError as exc:
        typer.echo(
            f"nexus models: credential store unavailable ({exc}); using environment keys only", err=True
        )
        return env_source(config)


def _router(credentials_factory: CredentialsFactory) -> Any:
    from nexus.common.paths import NexusPaths
    from nexus.config import ConfigError, load_config
    from nexus.models.factory import build_router

    paths = NexusPaths.from_env()
    try:
        config = load_config(paths)
        return build_router(config, paths, credentials_factory(config, paths))
    except ConfigError as exc:
        typer.echo(f"nexus models: {exc}", err=True)
        raise typer.Exit(EX_CONFIG) from exc


@models_app.callback()
def models(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Show the chain: each (model, profile), whether it can serve now, cooldowns, last outcome."""
    if ctx.invoked_subcommand is not None:
        return
    router = _router(default_credentials)
    try:
        candidates = router.candidates()
        cooldowns = router.cooldowns()
    finally:
        asyncio.run(router.aclose())
    if as_json:
        payload = {
            "chain": [str(ref) for ref in router.chain],
            "candidates": [asdict(c) for c in candidates],
            "cooldowns": [_cooldown_json(c) for c in cooldowns],
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    typer.echo(render_candidates([str(ref) for ref in router.chain], candidates, now=time.time()))


@models_app.command("probe")
def probe(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    timeout: float = typer.Option(20.0, "--timeout", min=0.5, help="Seconds allowed per candidate."),
) -> None:
    """Send one minimal real request per candidate and report ok or the reason. Exit 1 if any is not ok."""
    router = _router(default_credentials)

    async def run() -> list[Any]:
        try:
            return await router.probe(timeout_s=timeout)
        finally:
            await router.aclose()

    results = asyncio.run(run())
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in results], indent=2))
    else:
        typer.echo(render_probe(results))
    if not results or not all(r.ok and r.cooling is None for r in results):
        raise typer.Exit(1)


@models_app.command("reset")
def reset(
    model: str = typer.Argument(None, help="provider/model to clear (default: every cooldown)."),
    profile: str = typer.Option(None, "--profile", help="Only this auth profile's cooldowns."),
) -> None:
    """Clear cooldowns, so the gateway tries those candidates at its next message (no restart needed)."""
    router = _router(default_credentials)
    try:
        try:
            dropped = router.clear_cooldowns(profile=profile, model=model)
        except ValueError as exc:
            typer.echo(f"nexus models reset: {exc}", err=True)
            raise typer.Exit(2) from exc
    finally:
        asyncio.run(router.aclose())
    what = f" of {model}" if model else ""
    who = f" for profile {profile}" if profile else ""
    typer.echo(f"cleared {dropped} cooldown{'s' if dropped != 1 else ''}{what}{who}")


def render_candidates(chain: Sequence[str], candidates: Sequence[Any], *, now: float) -> str:
    lines = [f"chain: {' -> '.join(chain)}", ""]
    for c in candidates:
        if c.usable:
            state = "ready"
        elif c.cooling_until is not None:
            state = f"cooling until {_clock(c.cooling_until)} (in {max(0, round(c.cooling_until - now))}s)"
        else:
            state = "unusable"
        lines.append(f"  {c.model:<40} {c.profile or '(no profile)':<24} {state}")
        if c.reason and not c.usable:
            lines.append(f"      why: {c.reason}")
        if c.last_outcome:
            lines.append(f"      last: {c.last_outcome} at {_clock(c.last_outcome_at)}")
    return "\n".join(lines)


def render_probe(results: Sequence[Any]) -> str:
    lines = []
    for r in results:
        mark = "ok  " if r.ok else "FAIL"
        took = f" ({r.latency_ms:.0f} ms)" if r.latency_ms is not None else ""
        status = f" [{r.status}]" if r.status is not None else ""
        why = f": {r.detail}" if r.detail else ""
        lines.append(
            f"{mark} {r.model} {r.profile or '(no profile)'}{took} {r.outcome}{status}{why}".rstrip()
        )
        if r.cooling is not None:
            lines.append(
                f"     but the gateway skips it ({r.cooling}): `nexus models reset {r.model}` clears it"
            )
    return "\n".join(lines) if lines else "no candidates: set [models] primary in nexus.toml"


def _clock(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch)) if epoch else "-"


def _cooldown_json(entry: Any) -> dict[str, Any]:
    return {
        "profile": entry.profile,
        "model": entry.model,
        "kind": entry.kind.value,
        "until": None if entry.permanent else entry.until,
        "permanent": entry.permanent,
        "strikes": entry.strikes,
        "reason": entry.reason,
    }
