"""Slack's manifest and config model; imports no SDK so the CLI and config checks stay light.

Slack needs two credentials: the app-level token (``xapp-``, scope ``connections:write``) opens the
Socket Mode connection, the bot token (``xoxb-``) calls the Web API. They are stored together as one
secret, one per line, app token first.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nexus.channels.manifest import ChannelManifest
from nexus.common.secret import Secret

PUBLIC_API = "https://slack.com"
_APP_TOKEN = re.compile(r"^xapp-[0-9]+-[A-Z0-9]+-[0-9]+-[a-f0-9]{16,128}$")
_BOT_TOKEN = re.compile(r"^xoxb-[0-9]+-[0-9]+-[A-Za-z0-9]{16,64}$")
_ID = re.compile(r"^[A-Z][A-Z0-9]{2,30}$")


class SlackConfig(BaseModel):
    """``[channels.slack]`` in nexus.toml (documented in docs/channels.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    allow: list[str] = Field(default_factory=list)
    """Slack user ids (``U…``/``W…``) served without pairing."""
    pairing: bool = True
    owners: list[str] = Field(default_factory=list)
    """Where owner alerts go (user or channel ids); empty means every user in ``allow`` (their DMs)."""
    api_base: str = PUBLIC_API
    """Slack's host; the Web API is under ``{api_base}/api/`` (set to a fake in tests)."""
    edit_interval_s: float = Field(default=1.5, ge=0, le=60)
    """Minimum time between ``chat.update`` calls of one streaming answer."""
    updates_per_minute: float = Field(default=50.0, gt=0, le=100_000)
    """``chat.update`` budget shared by every stream of the workspace (Slack's Tier 3: 50+/min)."""
    update_burst: int = Field(default=5, ge=1, le=10_000)
    ping_interval_s: float = Field(default=10.0, gt=0, le=300)
    """How often the socket is pinged (transport liveness)."""
    pong_timeout_s: float = Field(default=10.0, gt=0, le=300)
    canary_channel: str | None = None
    """A private channel the app is in: when no event arrived for ``canary_interval_s``, the adapter
    posts there and expects its own message back as an event (delivery liveness); unset: not probed."""
    canary_interval_s: float = Field(default=300.0, gt=0, le=86_400)
    canary_timeout_s: float = Field(default=30.0, gt=0, le=600)
    request_timeout_s: float = Field(default=10.0, gt=0, le=300)

    @field_validator("api_base")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL such as https://slack.com")
        return value.rstrip("/")

    @field_validator("allow", "owners")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not _ID.match(v)]
        if bad:
            raise ValueError(f"not Slack ids (like U012AB3CD): {', '.join(map(repr, bad))}")
        return value

    def allow_ids(self) -> set[str]:
        return set(self.allow)

    def owner_chats(self) -> list[str]:
        return list(self.owners or self.allow)


def split_tokens(secret: Secret) -> tuple[Secret, Secret]:
    """The stored secret is ``xapp-…\\nxoxb-…``; returns (app token, bot token)."""
    app, _, bot = secret.reveal().partition("\n")
    return Secret(app.strip()), Secret(bot.strip())


def check_tokens(value: str) -> str | None:
    lines = [line.strip() for line in value.splitlines() if line.strip()]
    if len(lines) != 2:
        return "expected two lines: the app-level token (xapp-…), then the bot token (xoxb-…)"
    app, bot = lines
    if not _APP_TOKEN.match(app):
        return (
            "the first line does not look like an app-level token (xapp-…); create one with the "
            "connections:write scope under Basic Information → App-Level Tokens"
        )
    if not _BOT_TOKEN.match(bot):
        return "the second line does not look like a bot token (xoxb-…); see OAuth & Permissions"
    return None


MANIFEST = ChannelManifest(
    name="slack",
    title="Slack",
    config_model=SlackConfig,
    runtime="nexus.channels.slack.adapter:create",
    secret_prompt="Paste the app-level token (xapp-…), then the bot token (xoxb-…)",
    secret_check=check_tokens,
    secret_prompts=("App-level token (xapp-…)", "Bot token (xoxb-…)"),
)
