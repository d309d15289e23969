"""Discord fixtures' building blocks: a token of the real shape, the table and a gateway factory."""

from __future__ import annotations

import base64
import secrets
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from nexus.fakes.discord_server import FakeDiscord
from tests.channels import gateways
from tests.channels.gateways import GatewayFactory

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
    gateways.write_home(home, "discord", fake.token, discord_table(fake, **overrides))


def discord_gateways(tmp_path: Path, fake: FakeDiscord) -> AbstractAsyncContextManager[GatewayFactory]:
    return gateways.channel_gateways(
        tmp_path, "discord", secret=fake.token, table=lambda **overrides: discord_table(fake, **overrides)
    )
