"""Chat channels: a small contract (:mod:`base`), a manager that supervises every enabled channel,
and one package per platform (manifest + adapter; the adapter's SDK is imported only when enabled).

Others use :class:`ChannelManager` (gateway side), the manifests registry (CLI), and the types below.
``nexus.channels`` never imports ``nexus.gateway``; the gateway reaches it through :class:`ChannelHost`.
"""

from nexus.channels.base import (
    Accepted,
    Channel,
    ChannelHost,
    ChannelSettings,
    InboundMessage,
    TransportHealth,
)
from nexus.channels.manager import ChannelManager
from nexus.channels.registry import MANIFESTS, manifest
from nexus.channels.secrets import ChannelSecrets
from nexus.channels.state import ChannelHealth, ChannelState

__all__ = [
    "MANIFESTS",
    "Accepted",
    "Channel",
    "ChannelHealth",
    "ChannelHost",
    "ChannelManager",
    "ChannelSecrets",
    "ChannelSettings",
    "ChannelState",
    "InboundMessage",
    "TransportHealth",
    "manifest",
]
