"""The gateway process: HTTP + WebSocket on one port, the durable inbox, lanes and the run executor.

Start-up is :func:`serve` in :mod:`nexus.gateway.assemble` (the composition root); others use the
names below. Import cost: this pulls in starlette and uvicorn, so commands import it only when they
run the gateway.
"""

from nexus.gateway.assemble import serve
from nexus.gateway.events import EventBus
from nexus.gateway.runtime import ChannelsPort, GatewayRuntime, ReadinessCheck, StatusProvider
from nexus.gateway.server import StartupError, acquire_socket, require_token_for_public_bind

__all__ = [
    "ChannelsPort",
    "EventBus",
    "GatewayRuntime",
    "ReadinessCheck",
    "StartupError",
    "StatusProvider",
    "acquire_socket",
    "require_token_for_public_bind",
    "serve",
]
