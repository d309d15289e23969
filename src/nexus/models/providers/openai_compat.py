"""OpenAI-compatible chat completions (OpenAI, OpenRouter, Ollama, vLLM...), streaming, over the
gateway's shared httpx client.

Every credential goes as ``Authorization: Bearer``; a keyless endpoint (a local Ollama) gets no
``Authorization`` header at all. Usage comes in the final chunk (``stream_options.include_usage``).

Tools on the wire: ``tools: [{type: function, function: {name, description, parameters}}]``; our
blocks map to an assistant message's ``tool_calls`` (``arguments`` a JSON string) and one
``role: tool`` message per result (``tool_call_id``; the API has no error flag, so a failed tool's
content is prefixed ``error:``). Streamed calls arrive as ``delta.tool_calls`` entries keyed by
``index``: the first names the call, later ones carry ``arguments`` fragments; the adapter yields each
complete :class:`ToolCall` when the choice finishes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from nexus.auth.credentials import Credential
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
    ChatMessage,
    ModelRequest,
    StreamEnd,
    StreamItem,
    TextDelta,
    ToolCall,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)

DEFAULT_BASE_URL = "https://api.openai.com/v1"


def auth_headers(credential: Credential) -> dict[str, str]:
    value = credential.secret.reveal()
    return {"authorization": f"Bearer {value}"} if value else {}


def encode_message(message: ChatMessage) -> list[dict[str, Any]]:
    """One of our messages as the chat-completions messages it becomes (tool results: one each)."""
    if isinstance(message.content, str):
        return [{"role": message.role, "content": message.content}]
    if message.role == "assistant":
        calls = [
            {
                "id": b.id,
                "type": "function",
                "function": {"name": b.name, "arguments": json.dumps(dict(b.input), separators=(",", ":"))},
            }
            for b in message.content
            if isinstance(b, ToolUseBlock)
        ]
        encoded: dict[str, Any] = {"role": "assistant", "content": message.text or None}
        if calls:
            encoded["tool_calls"] = calls
        return [encoded]
    out: list[dict[str, Any]] = [
        {
            "role": "tool",
            "tool_call_id": b.tool_use_id,
            "content": f"error: {b.content}" if b.is_error else b.content,
        }
        for b in message.content
        if isinstance(b, ToolResultBlock)
    ]
    if message.text:
        out.append({"role": "user", "content": message.text})
    return out


def encode_request(request: ModelRequest) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    for message in request.messages:
        messages.extend(encode_message(message))
    body: dict[str, Any] = {
        "model": request.model,
        "messages": messages,
        "max_tokens": request.max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": dict(t.input_schema),
                },
            }
            for t in request.tools
        ]
    return body


class OpenAICompatProvider:
    """One configured OpenAI-compatible endpoint, sending through the shared client."""

    def __init__(
        self, name: str, base_url: str, timeouts: StreamTimeouts, *, client: httpx.AsyncClient
    ) -> None:
        self.name = name
        self.base_url = base_url
        self._timeouts = timeouts
        self._timeout = request_timeout(timeouts)
        self._client = client
        self._url = f"{base_url}/chat/completions"

    async def stream(self, request: ModelRequest, credential: Credential) -> AsyncIterator[StreamItem]:
        deadline = Deadline(self._timeouts, request.budget_s, provider=self.name, model=request.model)
        state = _CompletionState()
        async for item in post_stream(
            self._client,
            self._url,
            headers={"accept": "application/json", **auth_headers(credential)},
            body=encode_request(request),
            state=state,
            deadline=deadline,
            timeout=self._timeout,
            provider=self.name,
            model=request.model,
            secret=credential.secret,
        ):
            yield item
        yield StreamEnd(stop_reason=state.finish_reason, usage=state.usage)

    async def aclose(self) -> None:
        """The shared client belongs to whoever made it (the factory's router closes it)."""


class _PendingCall:
    def __init__(self) -> None:
        self.id = ""
        self.name = ""
        self.arguments: list[str] = []


class _CompletionState:
    """What the ``chat.completion.chunk`` stream has told us so far."""

    def __init__(self) -> None:
        self.usage = Usage()
        self.finish_reason: str | None = None
        self.done = False
        self.producing = False
        self._calls: dict[int, _PendingCall] = {}

    def apply(self, event: SSEEvent, *, provider: str, model: str) -> Sequence[Produced]:
        """Fold one event in; what it produced. An error object raises the classified error."""
        if event.data == "[DONE]" or self.done:
            self.done = True
            return ()
        try:
            data = json.loads(event.data)
        except ValueError:
            return ()  # a keep-alive or a proxy's noise: not ours to fail on
        if not isinstance(data, dict):
            return ()
        if data.get("error"):
            raise event_error(data, provider=provider, model=model, fallback="error in stream")
        usage = data.get("usage")
        if isinstance(usage, dict):
            self.usage = Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
        out: list[Produced] = []
        for choice in data.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("content"):
                self.producing = True
                out.append(TextDelta(delta["content"]))
            for fragment in delta.get("tool_calls") or ():
                self.producing = True
                call = self._calls.setdefault(int(fragment.get("index") or 0), _PendingCall())
                call.id = fragment.get("id") or call.id
                function = fragment.get("function") or {}
                call.name = function.get("name") or call.name
                call.arguments.append(function.get("arguments") or "")
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
                out.extend(self.finish(provider=provider, model=model))
        return out

    def finish(self, *, provider: str, model: str) -> Sequence[Produced]:
        calls = [self._calls[i] for i in sorted(self._calls)]
        self._calls.clear()
        return [
            ToolCall(
                c.id,
                c.name,
                parse_tool_input("".join(c.arguments), name=c.name, provider=provider, model=model),
            )
            for c in calls
        ]
