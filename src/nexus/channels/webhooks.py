"""Serve a platform's webhook call to the channel that declared the path (pure dispatch, no HTTP).

The gateway mounts ``/channels/{name}/{path}`` and hands each request here; only the paths a manifest
lists in ``webhook_paths`` reach an adapter, and only a running :class:`~nexus.channels.base.WebhookChannel` answers them.
"""

from __future__ import annotations

from nexus.channels.base import WebhookRequest, WebhookResponse
from nexus.channels.manifest import ChannelManifest
from nexus.channels.slot import Slot


def _text(status: int, message: str) -> WebhookResponse:
    return WebhookResponse(status=status, body=message.encode())


async def dispatch(
    slot: Slot | None, manifest: ChannelManifest | None, request: WebhookRequest
) -> WebhookResponse:
    if manifest is None or slot is None or request.path not in manifest.webhook_paths:
        return _text(404, "no such channel webhook")
    channel = slot.channel
    if channel is None or not slot.connected:
        # the platform retries a 503; the message is not lost, only delayed until the channel is up
        return _text(503, f"channel {slot.name} is {slot.health.state}; retry later")
    handle = getattr(channel, "handle_webhook", None)  # the WebhookChannel protocol's one method
    if handle is None:
        return _text(404, f"channel {slot.name} takes no webhooks")
    response: WebhookResponse = await handle(request)
    return response
