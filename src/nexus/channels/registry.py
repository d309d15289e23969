"""Every channel Nexus knows, by manifest. Importing this imports no platform SDK."""

from __future__ import annotations

from nexus.channels.discord.manifest import MANIFEST as DISCORD
from nexus.channels.manifest import ChannelManifest
from nexus.channels.slack.manifest import MANIFEST as SLACK
from nexus.channels.telegram.manifest import MANIFEST as TELEGRAM

MANIFESTS: dict[str, ChannelManifest] = {m.name: m for m in (TELEGRAM, SLACK, DISCORD)}


def manifest(name: str) -> ChannelManifest:
    try:
        return MANIFESTS[name]
    except KeyError:
        raise KeyError(f"unknown channel {name!r}; known: {', '.join(sorted(MANIFESTS))}") from None
