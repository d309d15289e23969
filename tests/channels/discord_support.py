"""Discord fixtures' building blocks: a token of the real shape, the table and a gateway factory."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from nexus.channels.secrets import ChannelSecrets
from nexus.common.secret import Secret
from nexus.config.schema import NexusConfig
from nexus.fakes.discord_server import FakeDiscord
from tests.gateway.conftest import RunningGateway, ScriptedRouter, start_gateway

OWNER = "300000000000000001"
STRANGER = "300000000000000777"
GUILD = "400000000000000001"
GENERAL = "500000000000000001"


def new_token() -> str:
    user = base64.urlsafe_b64encode(str(10**17 + secrets.randbelow(10**17)).encode()).decode().rstrip("=")
    return f"{user}.{secrets.token_urlsafe(5)[:6]}.{secrets.token_urlsafe(28)}"


def discord_table(fake: FakeDiscord, **overrides: Any) -> dict[str, Any]:
    table: dict[str, Any] = {
        "api_base": fake.api_base,
        "gateway_url": fake.gateway_url,
        "allow": [OWNER],
        "edit_interval_s": 0.05,
        "identify_wait_s": 0.1,
        "guild_ready_timeout_s": 0.0,
        "ready_timeout_s": 10.0,
    }
    table.update(overrides)
    return table


def write_home(home: Path, fake: FakeDiscord, **overrides: Any) -> None:
    home.mkdir(parents=True, exist_ok=True)
    ChannelSecrets(home).set("discord", Secret(fake.token))
    table = discord_table(fake, **overrides)
    lines = ["[channels.discord]"] + [f"{key} = {json.dumps(value)}" for key, value in table.items()]
    (home / "nexus.toml").write_text("\n".join(lines) + "\n")


GatewayFactory = Callable[..., Awaitable[RunningGateway]]


@asynccontextmanager
async def discord_gateways(tmp_path: Path, fake: FakeDiscord) -> AsyncIterator[GatewayFactory]:
    running: list[tuple[asyncio.Event, asyncio.Task[None], ScriptedRouter]] = []

    async def start(
        *,
        router: ScriptedRouter | None = None,
        home: Path | None = None,
        token: str | None = None,
        **overrides: Any,
    ) -> RunningGateway:
        home = home or tmp_path / f"home{len(running)}"
        ChannelSecrets(home).set("discord", Secret(token or fake.token))
        config = NexusConfig(channels={"discord": discord_table(fake, **overrides)})
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
