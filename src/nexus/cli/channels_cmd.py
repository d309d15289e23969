"""``nexus channels add|pair|status``: store a bot token, approve a stranger's pairing code, show health.

The token is read from stdin (hidden prompt on a terminal), never from argv, so it stays out of shell
history and ``ps``. Heavy imports live inside the commands.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

channels_app = typer.Typer(
    help="Chat channels (Telegram, Slack, Discord): tokens, pairing, health.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(channels_app, name="channels")


def _manifest(name: str) -> Any:
    from nexus.channels.registry import MANIFESTS

    if name not in MANIFESTS:
        typer.echo(f"unknown channel {name!r}; known: {', '.join(sorted(MANIFESTS))}", err=True)
        raise typer.Exit(2)
    return MANIFESTS[name]


@channels_app.command("add")
def add(name: str = typer.Argument(..., help="Channel name, e.g. telegram.")) -> None:
    """Store the channel's bot token (read from stdin) in $NEXUS_HOME/channels-secrets.json (0600).

    Slack reads two lines: the app-level token (xapp-…), then the bot token (xoxb-…)."""
    from nexus.channels.secrets import ChannelSecrets
    from nexus.common import NexusPaths
    from nexus.common.secret import Secret

    manifest = _manifest(name)
    prompts = manifest.secret_prompts or (manifest.secret_prompt,)
    parts = []
    for prompt in prompts:
        if sys.stdin.isatty():
            parts.append(typer.prompt(prompt, hide_input=True, err=True).strip())
        else:
            parts.append(sys.stdin.readline().strip())
    value = "\n".join(parts).strip()
    problem = manifest.secret_check(value) if value else "nothing was read from stdin"
    if problem:
        typer.echo(f"nexus channels add {name}: {problem}; nothing stored", err=True)
        raise typer.Exit(2)
    paths = NexusPaths.from_env()
    paths.ensure()
    secrets = ChannelSecrets(paths.home)
    secrets.set(name, Secret(value))
    typer.echo(f"stored the {manifest.title} token in {secrets.path} (mode 0600)")
    typer.echo(
        f"restart the gateway (`nexus restart`) to connect; set [channels.{name}] allow = [your user id] in "
        f"nexus.toml, or write to the bot and approve the code it shows with `nexus channels pair {name} CODE`"
    )


@channels_app.command("pair")
def pair(
    name: str = typer.Argument(..., help="Channel name, e.g. telegram."),
    code: str = typer.Argument(..., help="The code the bot showed the person to approve."),
) -> None:
    """Approve a pairing code: that sender is served from their next message on."""
    from nexus.channels.access import CODE_TTL_S, normalize_code
    from nexus.channels.intake import APPROVED_TEXT
    from nexus.common import NexusPaths
    from nexus.store import open_database
    from nexus.store.inbound import PairingStore
    from nexus.store.outbox import Outbox

    _manifest(name)
    paths = NexusPaths.from_env()
    paths.ensure()
    conn = open_database(paths.state_db)
    try:
        approved = PairingStore(conn).approve(name, normalize_code(code), max_age_s=CODE_TTL_S)
        if approved is None:
            typer.echo(
                f"no pending {name} pairing code {normalize_code(code)!r} (codes last one hour; the person "
                "gets a fresh one by writing to the bot again)",
                err=True,
            )
            raise typer.Exit(1)
        Outbox(conn).enqueue(
            channel=name,
            chat_id=approved.chat_id,
            dedupe_key=f"paired:{name}:{approved.sender}:{approved.code}",
            text=APPROVED_TEXT,
        )
    finally:
        conn.close()
    typer.echo(f"approved {name} sender {approved.sender} (chat {approved.chat_id})")


@channels_app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Each channel's state, liveness, last inbound/outbound, reconnects and last error."""
    from nexus.common import NexusPaths

    paths = NexusPaths.from_env()
    live = _from_gateway(paths)
    body: dict[str, Any] = {"source": "gateway", "channels": live} if live is not None else _offline(paths)
    if as_json:
        typer.echo(json.dumps(body, indent=2, sort_keys=True))
        return
    if body["source"] != "gateway":
        typer.echo("gateway not reachable; showing stored state only")
    if not body["channels"]:
        typer.echo("no channels configured: `nexus channels add telegram`")
    for name, info in sorted(body["channels"].items()):
        typer.echo(f"{name}: {info.get('state', 'unknown')}")
        for key in (
            "identity",
            "transport_alive",
            "last_inbound_at",
            "last_outbound_at",
            "reconnects",
            "last_error",
        ):
            if key in info:
                value = _ago(info[key]) if key.endswith("_at") else info[key]
                typer.echo(f"  {key}: {value}")
        if "outbox" in info:
            typer.echo(f"  outbox: {info['outbox']}")


def _ago(stamp: float | None) -> str:
    import time

    if stamp is None:
        return "never"
    seconds = max(0.0, time.time() - float(stamp))
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def _from_gateway(paths: Any) -> dict[str, Any] | None:
    import httpx

    from nexus.common.gateway_token import read_token
    from nexus.config import ConfigError, load_config

    try:
        config = load_config(paths)
    except ConfigError:
        return None
    token = read_token(paths)
    if token is None:
        return None
    host = config.gateway.bind if config.gateway.bind not in ("0.0.0.0", "::") else "127.0.0.1"
    try:
        response = httpx.get(
            f"http://{host}:{config.gateway.port}/status",
            headers={"Authorization": f"Bearer {token.reveal()}"},
            timeout=3.0,
            trust_env=False,
        )
        response.raise_for_status()
    except httpx.HTTPError:
        return None
    channels: dict[str, Any] = response.json().get("channels", {})
    return channels


def _offline(paths: Any) -> dict[str, Any]:
    from nexus.channels.registry import MANIFESTS
    from nexus.channels.secrets import ChannelSecrets
    from nexus.config import ConfigError, load_config
    from nexus.store import open_database
    from nexus.store.outbox import Outbox

    configured: dict[str, Any] = {}
    try:
        configured = dict(load_config(paths).channels)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
    stored = set(ChannelSecrets(paths.home).channels())
    result: dict[str, Any] = {}
    conn = open_database(paths.state_db) if paths.state_db.exists() else None
    try:
        for name in sorted(set(configured) | (stored & set(MANIFESTS))):
            info: dict[str, Any] = {"state": "not running", "token_stored": name in stored}
            if conn is not None:
                info["outbox"] = Outbox(conn).counts(name)
            result[name] = info
    finally:
        if conn is not None:
            conn.close()
    return {"source": "stored", "channels": result}
