"""Slack fixtures' building blocks: token shapes, the ``[channels.slack]`` table and a gateway factory."""

from __future__ import annotations

import secrets
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from nexus.fakes.slack_server import FakeSlack
from tests.channels import gateways
from tests.channels.gateways import GatewayFactory

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
    gateways.write_home(home, "slack", f"{fake.app_token}\n{fake.bot_token}", slack_table(fake, **overrides))


def slack_gateways(tmp_path: Path, fake: FakeSlack) -> AbstractAsyncContextManager[GatewayFactory]:
    return gateways.channel_gateways(
        tmp_path,
        "slack",
        secret=f"{fake.app_token}\n{fake.bot_token}",
        table=lambda **overrides: slack_table(fake, **overrides),
    )
