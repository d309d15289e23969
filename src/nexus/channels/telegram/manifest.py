"""Telegram's manifest and config model; imports no SDK so the CLI and config checks stay light."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nexus.channels.manifest import ChannelManifest

PUBLIC_API = "https://api.telegram.org"
_TOKEN = re.compile(r"^[0-9]{3,20}:[A-Za-z0-9_-]{20,100}$")


class TelegramConfig(BaseModel):
    """``[channels.telegram]`` in nexus.toml (documented in docs/channels.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    allow: list[int] = Field(default_factory=list)
    """Telegram user ids served without pairing."""
    pairing: bool = True
    """Strangers get a one-time code the owner approves with ``nexus channels pair telegram CODE``."""
    owners: list[int] = Field(default_factory=list)
    """Chat ids that receive owner alerts; empty means every id in ``allow`` (their private chats)."""
    api_base: str = PUBLIC_API
    """The Bot API server; set it to use a self-hosted Bot API server."""
    mode: Literal["polling"] = "polling"
    poll_timeout_s: int = Field(default=25, ge=0, le=50)
    stall_grace_s: float = Field(default=10.0, gt=0, le=600)
    """How long past ``poll_timeout_s`` a silent long poll is given before the connection is rebuilt."""
    edit_interval_s: float = Field(default=1.0, ge=0, le=60)
    """Minimum time between edits of a streaming answer (Telegram allows about one per second)."""
    request_timeout_s: float = Field(default=10.0, gt=0, le=300)
    max_concurrent_requests: int = Field(default=4, ge=1, le=64)
    """Outbound calls in flight at once. Telegram serves about 30 messages a second per bot anyway, and
    a burst of hundreds of concurrent requests makes the HTTP pool itself the bottleneck."""

    @field_validator("api_base")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL such as https://api.telegram.org")
        return value.rstrip("/")

    def allow_ids(self) -> set[str]:
        return {str(i) for i in self.allow}

    def owner_chats(self) -> list[str]:
        return [str(i) for i in (self.owners or self.allow)]


def check_token(token: str) -> str | None:
    if not _TOKEN.match(token):
        return "that does not look like a bot token (digits, a colon, then 20+ letters); ask @BotFather"
    return None


MANIFEST = ChannelManifest(
    name="telegram",
    title="Telegram",
    config_model=TelegramConfig,
    runtime="nexus.channels.telegram.adapter:create",
    secret_prompt="Paste the bot token from @BotFather",
    secret_check=check_token,
)
