"""Discord's manifest and config model; imports no SDK so the CLI and config checks stay light."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nexus.channels.manifest import ChannelManifest

PUBLIC_API = "https://discord.com/api/v10"
PUBLIC_GATEWAY = "wss://gateway.discord.gg/"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{18,40}\.[A-Za-z0-9_-]{4,10}\.[A-Za-z0-9_-]{20,80}$")
_SNOWFLAKE = re.compile(r"^[0-9]{15,21}$")
USER_PREFIX = "user:"
"""An owner chat written as ``user:<id>`` is that user's DM (opened on first use)."""


class DiscordConfig(BaseModel):
    """``[channels.discord]`` in nexus.toml (documented in docs/channels.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    allow: list[str] = Field(default_factory=list)
    """Discord user ids (snowflakes) served without pairing."""
    pairing: bool = True
    owners: list[str] = Field(default_factory=list)
    """Channel ids that receive owner alerts; empty means the DM of every user in ``allow``."""
    api_base: str = PUBLIC_API
    gateway_url: str = PUBLIC_GATEWAY
    edit_interval_s: float = Field(default=1.0, ge=0, le=60)
    heartbeat_timeout_s: float = Field(default=60.0, ge=10, le=600)
    """discord.py closes and resumes a socket silent this long (below 10 s it can never identify)."""
    zombie_after_heartbeats: float = Field(default=2.0, ge=1.0, le=10)
    """No heartbeat ACK for this many intervals: the socket is a zombie and is resumed at once."""
    identify_wait_s: float = Field(default=5.0, ge=0, le=60)
    """Pause before a re-IDENTIFY (Discord allows one IDENTIFY per 5 s per bucket)."""
    max_resume_attempts: int = Field(default=3, ge=1, le=50)
    """After this many reconnects without a RESUMED or READY, a fresh client IDENTIFYs instead."""
    ready_timeout_s: float = Field(default=30.0, gt=0, le=600)
    guild_ready_timeout_s: float = Field(default=2.0, ge=0, le=60)
    canary_channel: str | None = None
    """A channel the bot can read: with no message for ``canary_interval_s``, post there and expect
    our own MESSAGE_CREATE back within ``canary_timeout_s`` (delivery liveness)."""
    canary_interval_s: float = Field(default=300.0, gt=0, le=86_400)
    canary_timeout_s: float = Field(default=30.0, gt=0, le=600)
    max_ratelimit_wait_s: float = Field(default=30.0, ge=0, le=600)
    """Longer REST rate-limit waits go back to the outbox instead of being slept inside a call."""

    @field_validator("allow", "owners", mode="before")
    @classmethod
    def _as_strings(cls, value: object) -> object:
        return [str(v) for v in value] if isinstance(value, list) else value

    @field_validator("allow")
    @classmethod
    def _snowflakes(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not _SNOWFLAKE.match(v)]
        if bad:
            raise ValueError(f"not Discord ids (like 80351110224678912): {', '.join(map(repr, bad))}")
        return value

    @field_validator("api_base", "gateway_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.netloc:
            raise ValueError("must be a URL such as https://discord.com/api/v10 or wss://gateway.discord.gg/")
        return value.rstrip("/") if parts.scheme.startswith("http") else value

    def allow_ids(self) -> set[str]:
        return set(self.allow)

    def owner_chats(self) -> list[str]:
        return list(self.owners) or [f"{USER_PREFIX}{user}" for user in self.allow]


def check_token(token: str) -> str | None:
    if not _TOKEN.match(token):
        return (
            "that does not look like a Discord bot token (three dot-separated parts); copy it from the "
            "Developer Portal → your application → Bot → Reset Token"
        )
    return None


MANIFEST = ChannelManifest(
    name="discord",
    title="Discord",
    config_model=DiscordConfig,
    runtime="nexus.channels.discord.adapter:create",
    secret_prompt="Paste the bot token from the Discord Developer Portal",
    secret_check=check_token,
)
