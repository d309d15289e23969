"""Anthropic Messages API (``POST /v1/messages``), streaming, over the gateway's shared httpx client.

Credentials per request, exactly as the official SDK sends them: an API key as ``x-api-key`` (and no
``Authorization``); an OAuth or long-lived token as ``Authorization: Bearer`` with
``anthropic-beta: oauth-2025-04-20`` (without it the API refuses OAuth tokens). Always
``anthropic-version`` as the pinned SDK sends it (:data:`API_VERSION`).

Tools on the wire: ``tools: [{name, description, input_schema}]``; the conversation's blocks go as
``text``, ``tool_use`` and ``tool_result`` content blocks; a streamed ``tool_use`` block arrives as
``content_block_start`` then ``input_json_delta`` fragments then ``content_block_stop``, when the
adapter yields the complete :class:`ToolCall`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from nexus.auth.credentials import Credential, CredentialKind
from nexus.models.errors import ConnectionFailed
from nexus.models.providers._common import (
    Deadline,
    Produced,
    StreamTimeouts,
    event_error,
    parse_tool_input,
    post_stream,
    request_timeout,
)
from nexus.models.providers._sse import SSEEvent
from nexus.models.types import (
    ContentBlock,
    ModelRequest,
    StreamEnd,
    StreamItem,
    TextBlock,
    TextDelta,
    ToolCall,
    ToolUseBlock,
    Usage,
)

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2026-10-21"
"""What the official SDK (anthropic 2.10) sends: the API version the Messages format here follows."""
OAUTH_BETA = "oauth-2025-04-20"


def auth_headers(credential: Credential) -> dict[str, str]:
    """The headers that authenticate one request (the SDK's, for both credential kinds)."""
    value = credential.secret.reveal()
    if credential.kind == CredentialKind.BEARER:
        return {"authorization": f"Bearer {value}", "anthropic-beta": OAUTH_BETA}
    return {"x-api-key": value}


def encode_block(block: ContentBlock) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text}
    if isinstance(block, ToolUseBlock):
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": dict(block.input)}
    encoded: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": block.tool_use_id,
        "content": block.content,
    }
    if block.is_error:
        encoded["is_error"] = True
    return encoded


def encode_request(request: ModelRequest) -> dict[str, Any]:
    """The Messages API body for ``request`` (always streaming)."""
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        "messages": [
            {
                "role": m.role,
                "content": m.content if isinstance(m.content, str) else [encode_block(b) for b in m.content],
            }
            for m in request.messages
        ],
        "stream": True,
    }
    if request.system:
        body["system"] = request.system
    if request.tools:
        body["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": dict(t.input_schema)}
            for t in request.tools
        ]
    return body


class AnthropicProvider:
    """One configured Anthropic endpoint, sending through the shared client."""

    def __init__(
        self, name: str, base_url: str, timeouts: StreamTimeouts, *, client: httpx.AsyncClient
    ) -> None:
        self.name = name
        self.base_url = base_url
        self._timeouts = timeouts
        self._timeout = request_timeout(timeouts)
        self._client = client
        self._url = f"{base_url}/v1/messages"

    async def stream(self, request: ModelRequest, credential: Credential) -> AsyncIterator[StreamItem]:
        deadline = Deadline(self._timeouts, request.budget_s, provider=self.name, model=request.model)
        state = _MessageState()
        headers = {
            "anthropic-version": API_VERSION,
            "accept": "application/json",
            **auth_headers(credential),
        }
        async for item in post_stream(
            self._client,
            self._url,
            headers=headers,
            body=encode_request(request),
            state=state,
            deadline=deadline,
            timeout=self._timeout,
            provider=self.name,
            model=request.model,
            secret=credential.secret,
        ):
            yield item
        if not state.finished:
            raise ConnectionFailed(
                "stream ended before message_stop", provider=self.name, model=request.model
            )
        yield StreamEnd(stop_reason=state.stop_reason, usage=Usage(state.input_tokens, state.output_tokens))

    async def aclose(self) -> None:
        """The shared client belongs to whoever made it (the factory's router closes it)."""


class _ToolBlock:
    def __init__(self, id: str, name: str) -> None:
        self.id = id
        self.name = name
        self.json: list[str] = []


class _MessageState:
    """What the Messages event sequence has told us so far."""

    def __init__(self) -> None:
        self.input_tokens = 0
        self.output_tokens = 0
        self.stop_reason: str | None = None
        self.finished = False
        self.producing = False
        self._tools: dict[int, _ToolBlock] = {}

    def apply(self, event: SSEEvent, *, provider: str, model: str) -> Sequence[Produced]:
        """Fold one event in; what it produced. An ``error`` event raises the classified error."""
        kind = event.event
        if kind == "content_block_delta":
            data = json.loads(event.data)
            delta = data.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                self.producing = True
                return (TextDelta(delta["text"]),)
            if delta.get("type") == "input_json_delta":
                self.producing = True
                block = self._tools.get(int(data.get("index", -1)))
                if block is not None:
                    block.json.append(str(delta.get("partial_json") or ""))
            return ()
        if kind == "content_block_start":
            data = json.loads(event.data)
            block = data.get("content_block") or {}
            if block.get("type") == "tool_use":
                self.producing = True
                self._tools[int(data.get("index", -1))] = _ToolBlock(
                    str(block.get("id")), str(block.get("name"))
                )
        elif kind == "content_block_stop":
            tool = self._tools.pop(int(json.loads(event.data).get("index", -1)), None)
            if tool is not None:
                return (self._call(tool, provider=provider, model=model),)
        elif kind == "message_start":
            usage = (json.loads(event.data).get("message") or {}).get("usage") or {}
            self.input_tokens = int(usage.get("input_tokens") or 0)
        elif kind == "message_delta":
            data = json.loads(event.data)
            self.stop_reason = (data.get("delta") or {}).get("stop_reason")
            self.output_tokens = int((data.get("usage") or {}).get("output_tokens") or 0)
        elif kind == "message_stop":
            self.finished = True
        elif kind == "error":
            try:
                body: Any = json.loads(event.data)
            except ValueError:
                body = event.data
            raise event_error(body, provider=provider, model=model, fallback="error event")
        return ()

    def finish(self, *, provider: str, model: str) -> Sequence[Produced]:
        return ()  # a tool block without its stop is an unfinished stream (no message_stop either)

    @staticmethod
    def _call(tool: _ToolBlock, *, provider: str, model: str) -> ToolCall:
        raw = "".join(tool.json)
        return ToolCall(
            tool.id, tool.name, parse_tool_input(raw, name=tool.name, provider=provider, model=model)
        )
