"""``nexus auth``: list, add, log in, borrow, refresh, order and remove credential profiles.

Secrets come from stdin (when piped) or a hidden prompt, never from argv (which any local user can
read in /proc) and are never printed. Every command works on the same store the gateway uses, under
the same locks, so running them while the gateway serves is safe.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import typer

from nexus.errors import EX_CONFIG

auth_app = typer.Typer(help="Manage credential profiles (auth-profiles.json).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(auth_app, name="auth")


@auth_app.callback()
def _auth(
    ctx: typer.Context,
    force: bool = typer.Option(
        False,
        "--force",
        help="Use a store on nfs/cifs/9p/drvfs/virtiofs even though flock is unreliable there.",
    ),
) -> None:
    """Credential profiles: keep two per provider, so one can take over when the other fails."""
    ctx.obj = {"force": force}


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"nexus auth: {message}", err=True)
    return typer.Exit(code)


def _open_store(ctx: typer.Context) -> Any:
    from nexus.auth.errors import UnreliableFilesystem
    from nexus.auth.source import resolve_store_path
    from nexus.auth.store import ProfileStore
    from nexus.common.paths import NexusPaths
    from nexus.config import ConfigError, load_config

    paths = NexusPaths.from_env()
    try:
        config = load_config(paths)
    except ConfigError as exc:
        raise _fail(str(exc), EX_CONFIG) from exc
    path = resolve_store_path(config, paths, os.environ)
    try:
        return ProfileStore(
            path,
            refresh_margin_s=config.auth.refresh_margin_s,
            lock_timeout_s=config.auth.lock_timeout_s,
            force_unreliable_fs=bool((ctx.obj or {}).get("force")) or config.auth.force_unreliable_fs,
        )
    except UnreliableFilesystem as exc:
        raise _fail(str(exc)) from exc


def _read_secret(what: str, *, example: str) -> str:
    """One secret from piped stdin or a hidden prompt; refuses empty or multi-word input."""
    import getpass

    if sys.stdin.isatty():
        value = getpass.getpass(f"Paste the {what} (input is hidden): ")
    else:
        value = sys.stdin.readline()
    value = value.strip()
    if not value:
        raise _fail(f"no {what} given: pipe it in (e.g. `{example}`) or run in a terminal to be prompted")
    if any(ch.isspace() for ch in value):
        raise _fail(f"the {what} contains spaces or line breaks: paste exactly one {what}")
    return value


def _name(provider: str, name: str | None, default_label: str) -> str:
    if not provider or ":" in provider or "/" in provider:
        raise _fail(f"{provider!r} is not a provider name: use e.g. anthropic, openai, openrouter")
    chosen = name or f"{provider}:{default_label}"
    return chosen if ":" in chosen else f"{provider}:{chosen}"


def _ago(ts: float | None, now: float) -> str:
    if ts is None:
        return "never"
    return f"{_span(now - ts)} ago"


def _span(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 90:
        return f"{int(seconds)}s"
    if seconds < 5400:
        return f"{int(seconds // 60)} min"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} days"


def _expires_text(row: Any, now: float) -> str:
    if row.refreshable:
        return "auto-refresh"
    if row.expires_at is None:
        return "never"
    if row.expires_at <= now:
        return f"{_span(now - row.expires_at)} ago"
    days = (row.expires_at - now) / 86400
    return f"in {int(days)} days" if days >= 2 else f"in {_span(row.expires_at - now)}"


def _router_cooldowns() -> dict[str, tuple[float, str]]:
    """Profile-wide cooldowns the model router persisted (billing, auth), for the STATE column."""
    import math

    from nexus.common.paths import NexusPaths
    from nexus.models.cooldown import ANY_MODEL
    from nexus.models.cooldown_store import JsonCooldownStore

    now = time.time()
    found: dict[str, tuple[float, str]] = {}
    state = JsonCooldownStore(NexusPaths.from_env().cooldowns).load()
    for entry in state.cooldowns.values():
        if entry.model != ANY_MODEL or entry.until <= now:
            continue
        until = entry.until if not math.isinf(entry.until) else now + 10 * 365 * 86400.0
        if until > found.get(entry.profile, (0.0, ""))[0]:
            found[entry.profile] = (until, entry.reason or entry.kind.value)
    return found


def _lonely(rows: list[Any]) -> list[str]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.provider] = counts.get(row.provider, 0) + 1
    return sorted(p for p, n in counts.items() if n == 1)


@auth_app.command("list")
def list_(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")
) -> None:
    """Profiles in the order they are tried: type, account, expiry, state, last use."""
    store = _open_store(ctx)
    rows = store.report(cooldowns=_router_cooldowns())
    lonely = _lonely(rows)
    if as_json:
        doc = {
            "store": str(store.path),
            "profiles": [r.to_json() for r in rows],
            "single_profile_providers": lonely,
        }
        typer.echo(json.dumps(doc, indent=2))
        return
    if not rows:
        typer.echo(f"no profiles in {store.path}")
        typer.echo(
            "add one: `nexus auth login anthropic`, `nexus auth add-token anthropic` or `nexus auth add-key PROVIDER`"
        )
        return
    now = time.time()
    header = ("PROFILE", "TYPE", "ACCOUNT", "EXPIRES", "STATE", "LAST USED")
    table = [header]
    for r in rows:
        state = r.status.value
        if r.cooldown_until:
            state = f"cooling until {time.strftime('%H:%M:%S', time.localtime(r.cooldown_until))}"
        table.append((r.name, r.type, r.account or "-", _expires_text(r, now), state, _ago(r.last_used, now)))
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    for r in rows:
        if r.reason:
            typer.echo(f"  {r.name}: {r.reason}")
    for provider in lonely:
        typer.echo(
            f"note: {provider} has only one profile. Keep two (e.g. an OAuth login and a long-lived token or "
            f"key) so one takes over when the other fails: `nexus auth add-token {provider} --name "
            f"{provider}:backup`"
        )


@auth_app.command("add-token")
def add_token(
    ctx: typer.Context,
    provider: str = typer.Argument(..., help="Provider, e.g. anthropic."),
    name: str | None = typer.Option(None, "--name", help="Profile name (default PROVIDER:token)."),
    expires_in: str | None = typer.Option(
        None,
        "--expires-in",
        help="When the token expires, e.g. 365d (claude setup-token makes 1-year tokens).",
    ),
) -> None:
    """Store a long-lived token (e.g. from `claude setup-token`), read from stdin or a hidden prompt."""
    from nexus.auth.policy import parse_duration
    from nexus.auth.profiles import Profile, ProfileType
    from nexus.common.secret import Secret

    profile_name = _name(provider, name, "token")
    try:
        lifetime = parse_duration(expires_in) if expires_in else None
    except ValueError as exc:
        raise _fail(f"--expires-in: {exc}") from exc
    store = _open_store(ctx)
    token = _read_secret("token", example=f"claude setup-token | nexus auth add-token {provider}")
    if token.startswith("sk-ant-api"):
        raise _fail(f"that is an API key, not a token: store it with `nexus auth add-key {provider}`")
    expires_ms = int((time.time() + lifetime) * 1000) if lifetime else None
    store.put(
        Profile(
            name=profile_name,
            type=ProfileType.TOKEN,
            provider=provider,
            secret=Secret(token),
            expires_ms=expires_ms,
        )
    )
    typer.echo(f"stored {profile_name} (token{', expires in ' + expires_in if expires_in else ''})")


@auth_app.command("add-key")
def add_key(
    ctx: typer.Context,
    provider: str = typer.Argument(..., help="Provider, e.g. anthropic, openai, openrouter."),
    name: str | None = typer.Option(None, "--name", help="Profile name (default PROVIDER:key)."),
) -> None:
    """Store an API key, read from stdin or a hidden prompt."""
    from nexus.auth.profiles import Profile, ProfileType
    from nexus.common.secret import Secret

    profile_name = _name(provider, name, "key")
    store = _open_store(ctx)
    key = _read_secret("API key", example=f"cat key.txt | nexus auth add-key {provider}")
    store.put(Profile(name=profile_name, type=ProfileType.API_KEY, provider=provider, secret=Secret(key)))
    typer.echo(f"stored {profile_name} (api_key)")


@auth_app.command("login")
def login(
    ctx: typer.Context,
    provider: str = typer.Argument(..., help="Only anthropic (Claude Pro/Max account) for now."),
    name: str | None = typer.Option(None, "--name", help="Profile name (default anthropic:oauth)."),
    token_url: str | None = typer.Option(None, "--token-url", hidden=True, help="Token endpoint override."),
) -> None:
    """Log in with OAuth (authorization code + PKCE): open the URL, authorize, paste the code."""
    import asyncio

    from nexus.auth.oauth import (
        ANTHROPIC_TOKEN_URL,
        TokenEndpointError,
        authorize_url,
        exchange_code,
        parse_pasted_code,
        pkce_pair,
    )
    from nexus.auth.profiles import Profile, ProfileType

    if provider != "anthropic":
        raise _fail(
            f"OAuth login is only available for anthropic; for {provider} use `nexus auth add-key {provider}`"
        )
    profile_name = _name(provider, name, "oauth")
    store = _open_store(ctx)
    verifier, challenge = pkce_pair()
    typer.echo("1. Open this URL in a browser and authorize Nexus with your Claude account:")
    typer.echo(authorize_url(challenge, verifier))
    typer.echo("2. Paste the code shown on the page (CODE#STATE) below.")
    pasted = _read_secret("code", example="echo CODE#STATE | nexus auth login anthropic")
    try:
        code, state = parse_pasted_code(pasted)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    if state is not None and state != verifier:
        raise _fail("that code belongs to another login attempt: run `nexus auth login anthropic` again")
    url = token_url or ANTHROPIC_TOKEN_URL
    try:
        grant = asyncio.run(exchange_code(code, verifier=verifier, state=state or verifier, token_url=url))
    except TokenEndpointError as exc:
        raise _fail(f"login failed: {exc}; run `nexus auth login anthropic` again") from exc
    now_ms = int(time.time() * 1000)
    store.put(
        Profile(
            name=profile_name,
            type=ProfileType.OAUTH,
            provider=provider,
            secret=grant.access,
            refresh=grant.refresh,
            expires_ms=now_ms + int(grant.expires_in * 1000),
            issued_ms=now_ms,
            token_url=token_url,
        )
    )
    typer.echo(f"logged in: stored {profile_name} (oauth, refreshed automatically)")


@auth_app.command("borrow")
def borrow(
    ctx: typer.Context,
    source: str = typer.Argument(..., help="Only claude-code for now."),
    name: str | None = typer.Option(None, "--name", help="Profile name (default anthropic:claude-code)."),
    path: str | None = typer.Option(
        None, "--path", help="Credentials file (default ~/.claude/.credentials.json)."
    ),
) -> None:
    """Use Claude Code's login without ever refreshing it (Claude Code owns and refreshes it)."""
    from nexus.auth.borrowed import BorrowedFile, BorrowedUnavailable, claude_code_credentials_path
    from nexus.auth.profiles import Profile, ProfileType

    if source != "claude-code":
        raise _fail(f"cannot borrow from {source!r}: supported: claude-code")
    profile_name = _name("anthropic", name, "claude-code")
    store = _open_store(ctx)
    file = BorrowedFile(claude_code_credentials_path() if path is None else Path(path))
    try:
        file.read()
    except BorrowedUnavailable as exc:
        typer.echo(f"warning: {exc.reason}", err=True)
    store.put(
        Profile(name=profile_name, type=ProfileType.BORROWED, provider="anthropic", source=source, path=path)
    )
    typer.echo(f"stored {profile_name} (borrowed from Claude Code; Nexus reads it and never refreshes it)")


@auth_app.command("refresh")
def refresh(ctx: typer.Context, name: str = typer.Argument(..., help="Profile name.")) -> None:
    """Refresh an OAuth profile now, under the same host-wide lock as the gateway."""
    import asyncio

    from nexus.auth.errors import CredentialUnavailable

    store = _open_store(ctx)
    try:
        profile = asyncio.run(store.refresh(name))
    except CredentialUnavailable as exc:
        raise _fail(str(exc)) from exc
    left = (profile.expires_s or time.time()) - time.time()
    typer.echo(f"{name}: access token valid for {_span(left)}")


@auth_app.command("order")
def order(
    ctx: typer.Context,
    provider: str = typer.Argument(..., help="Provider whose order to set."),
    names: list[str] = typer.Argument(..., help="Profile names, first tried first."),
) -> None:
    """Set the order a provider's profiles are tried in (unlisted ones follow)."""
    from nexus.auth.errors import CredentialUnavailable

    store = _open_store(ctx)
    try:
        store.set_order(provider, names)
    except CredentialUnavailable as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"{provider}: " + " -> ".join(r.name for r in store.report(provider)))


@auth_app.command("remove")
def remove(ctx: typer.Context, name: str = typer.Argument(..., help="Profile name.")) -> None:
    """Delete a profile from the store."""
    store = _open_store(ctx)
    if not store.remove(name):
        raise _fail(f"no profile {name!r}; see `nexus auth list`")
    typer.echo(f"removed {name}")
