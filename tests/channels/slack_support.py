"""Slack fixtures' building blocks: token shapes, the ``[channels.slack]`` table and a gateway factory."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from nexus.channels.secrets import ChannelSecrets
from nexus.common.secret import Secret
from nexus.config.schema import NexusConfig
from nexus.fakes.slack_server import FakeSlack
from tests.gateway.conftest import RunningGateway, ScriptedRouter, start_gateway

OWNER = "U0OWNER01"
STRANGER = "U0STRANGE1"


def dm(user: str) -> str:
    """The DM channel the fake gives a user."""
    return f"D{user[1:]}"


def new_tokens() -> tuple[str, str]:
    app = f"xapp-1-A0NEXUS01-{secrets.randbelow(10**12) + 10**12}-{secrets.token_hex(32)}"
    bot = f"xoxb-{secrets.randbelow(10**11) + 10**11}-{secrets.randbelow(10**12) + 10**12}-" + "".join(
        secrets.choice("abcdefghijklmnopqrstuvwxABCDEFGHIJ0123456789") for _ in range(24)
    )
    return app, bot


def slack_table(fake: FakeSlack, **overrides: Any) -> dict[str, Any]:
    table: dict[str, Any] = {
        "api_base": fake.base_url,
        "allow": [OWNER],
        "edit_interval_s": 0.05,
        "ping_interval_s": 0.3,
        "pong_timeout_s": 2.0,
        "request_timeout_s": 5.0,
    }
    table.update(overrides)
    return table


def write_home(home: Path, fake: FakeSlack, **overrides: Any) -> None:
    home.mkdir(parents=True, exist_ok=True)
    ChannelSecrets(home).set("slack", Secret(f"{fake.app_token}\n{fake.bot_token}"))
    table = slack_table(fake, **overrides)
    lines = ["[channels.slack]"] + [f"{key} = {json.dumps(value)}" for key, value in table.items()]
    (home / "nexus.toml").write_text("\n".join(lines) + "\n")


GatewayFactory = Callable[..., Awaitable[RunningGateway]]


@asynccontextmanager
async def slack_gateways(tmp_path: Path, fake: FakeSlack) -> AsyncIterator[GatewayFactory]:
    running: list[tuple[asyncio.Event, asyncio.Task[None], ScriptedRouter]] = []

    async def start(
        *,
        router: ScriptedRouter | None = None,
        home: Path | None = None,
        tokens: tuple[str, str] | None = None,
        **overrides: Any,
    ) -> RunningGateway:
        home = home or tmp_path / f"home{len(running)}"
        app, bot = tokens or (fake.app_token, fake.bot_token)
        ChannelSecrets(home).set("slack", Secret(f"{app}\n{bot}"))
        config = NexusConfig(channels={"slack": slack_table(fake, **overrides)})
        router = router or ScriptedRouter()
        gw, stop, task = await start_gateway(home, router, config)
        running.append((stop, task, router))
        return gw

    try:
        yield start
    finally:
        for stop, task, router in reversed(running):
            if router.gate is not None:
                router.gate.set()
            stop.set()
            await asyncio.wait_for(task, 15)
