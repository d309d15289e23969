"""A protocol-faithful fake of the Anthropic Messages API (``POST /v1/messages``) on 127.0.0.1.

It speaks what api.anthropic.com speaks, so the real ``anthropic`` SDK, plain httpx and a gateway
subprocess (``ANTHROPIC_BASE_URL=fake.base_url``) all work against it unchanged:

- auth: ``x-api-key`` or ``Authorization: Bearer`` (the 2.x SDK sends API keys that way); an OAuth
  access token (``sk-ant-oat...``) only *with* ``anthropic-beta: oauth-2025-04-20`` (without it the
  real API refuses OAuth tokens with 401, and so does this fake);
  ``accept_token`` decides which credentials are live;
- non-streaming JSON and ``stream: true`` SSE with the real event sequence
  (message_start, content_block_start, ping, content_block_delta*, content_block_stop,
  message_delta, message_stop) and ``error`` events mid-stream;
- tools: ``tools`` checked for ``name`` and ``input_schema``; a scripted :class:`ToolUse` answers
  with ``tool_use`` blocks (streamed as ``input_json_delta`` fragments, stop reason ``tool_use``);
  a ``tool_result`` block must answer a ``tool_use`` id of the message before it, as the real API
  insists (400 otherwise); ``Reply()`` echoes the last tool result when the user turn has no text;
- real error bodies ``{"type":"error","error":{"type":...,"message":...},"request_id":...}`` with
  ``retry-after`` on 429s.

    with FakeAnthropic() as fake:
        fake.script("claude-x", Error(429, retry_after=1), Reply("hi", chunks=3))
        ...
        assert fake.count("claude-x") == 2

Run alone: ``python -m nexus.fakes.anthropic_server --port 8123``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from nexus.fakes._server import (
    STOPPED,
    Behaviour,
    Disconnect,
    Error,
    FakeModelServer,
    FakeToolCall,
    Hang,
    MidStreamError,
    RecordedRequest,
    Reply,
    Reset,
    ToolUse,
    pause,
    play,
    reset_connection,
    serve_forever,
    tool_input_fragments,
)

__all__ = [
    "Behaviour",
    "Disconnect",
    "Error",
    "FakeAnthropic",
    "FakeToolCall",
    "Hang",
    "MidStreamError",
    "Reply",
    "Reset",
    "ToolUse",
]

OAUTH_BETA = "oauth-2025-04-20"
OAUTH_TOKEN_PREFIX = "sk-ant-oat"
"""OAuth access tokens look like this; only they need the oauth beta header (API keys may come as Bearer)."""

ERROR_TYPE_FOR_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
STATUS_FOR_ERROR_TYPE = {v: k for k, v in ERROR_TYPE_FOR_STATUS.items()}
DEFAULT_MESSAGE = {
    "invalid_request_error": "Invalid request",
    "authentication_error": "invalid x-api-key",
    "billing_error": "Your credit balance is too low to access the Anthropic API. "
    "Please go to Plans & Billing to upgrade or purchase credits.",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "Not found",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": "This request would exceed the rate limit for your organization of 50 requests per "
    "minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.",
    "api_error": "Internal server error",
    "timeout_error": "Request timed out",
    "overloaded_error": "Overloaded",
}


def error_body(error_type: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": error_type, "message": message}
    if details is not None:
        error["details"] = dict(details)
    return {"type": "error", "error": error, "request_id": _request_id()}


def _request_id() -> str:
    return f"req_{uuid.uuid4().hex[:24]}"


def _format_retry_after(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def error_response(error: Error) -> JSONResponse:
    error_type = error.error_type or ERROR_TYPE_FOR_STATUS.get(error.status, "api_error")
    message = error.message or DEFAULT_MESSAGE.get(error_type, "Error")
    headers = {"request-id": _request_id(), **error.headers}
    if error.retry_after is not None:
        headers["retry-after"] = _format_retry_after(error.retry_after)
    if error.status == 529 or error_type == "overloaded_error":
        headers.setdefault("x-should-retry", "true")
    return JSONResponse(
        error_body(error_type, message, error.details), status_code=error.status, headers=headers
    )


def last_user_text(messages: Any) -> str:
    """The text of the last ``user`` message (content a string or blocks); without text, its tool
    results' content (so a scripted echo shows what the tool gave back)."""
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                blocks = [b for b in content if isinstance(b, dict)]
                text = "".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")
                results = [_result_text(b.get("content")) for b in blocks if b.get("type") == "tool_result"]
                return text or " | ".join(results)
    return ""


def _result_text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return str(content or "")


def tool_problem(body: dict[str, Any]) -> str | None:
    """What the real API refuses about tools and tool results (None: nothing)."""
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            return "tools: Input should be a valid list"
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict) or not tool.get("name"):
                return f"tools.{i}.name: Field required"
            if not isinstance(tool.get("input_schema"), dict):
                return f"tools.{i}.custom.input_schema: Field required"
    messages = body["messages"]
    for i, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        results = [
            b.get("tool_use_id") for b in content if isinstance(b, dict) and b.get("type") == "tool_result"
        ]
        if not results:
            continue
        before = messages[i - 1] if i > 0 else {}
        asked = (
            before.get("content") if isinstance(before, dict) and before.get("role") == "assistant" else None
        )
        ids = (
            {b.get("id") for b in asked if isinstance(b, dict) and b.get("type") == "tool_use"}
            if isinstance(asked, list)
            else set()
        )
        for tool_use_id in results:
            if tool_use_id not in ids:
                return (
                    f"messages.{i}.content: unexpected `tool_use_id` found in `tool_result` blocks: {tool_use_id}. "
                    "Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                )
    return None


def _sse(event: str, data: Mapping[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class FakeAnthropic(FakeModelServer):
    """The Anthropic Messages API, scriptable per test and per model (see module docstring)."""

    api_name = "anthropic"
    base_path = ""

    def build_app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/messages", self._messages, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/_fake/{action}", self.control, methods=["GET", "POST"]),
            ]
        )

    # ---- checks in the order the real API applies them
    def _auth_problem(self, headers: Mapping[str, str]) -> Error | None:
        api_key = headers.get("x-api-key")
        authorization = headers.get("authorization", "")
        if not api_key and not authorization.lower().startswith("bearer "):
            return Error(401, "authentication_error", "x-api-key header is required")
        bearer = authorization[7:].strip() if not api_key else ""
        if bearer.startswith(OAUTH_TOKEN_PREFIX):
            betas = {b.strip() for b in headers.get("anthropic-beta", "").split(",")}
            if OAUTH_BETA not in betas:
                return Error(401, "authentication_error", "OAuth authentication is currently not supported.")
        if self.accept_token is not None and not self.accept_token(headers):
            message = "invalid x-api-key" if api_key else "Invalid bearer token"
            return Error(401, "authentication_error", message)
        return None

    def _body_problem(self, body: Any, headers: Mapping[str, str]) -> Error | None:
        if not headers.get("anthropic-version"):
            return Error(400, "invalid_request_error", "anthropic-version: header is required")
        if not isinstance(body, dict):
            return Error(400, "invalid_request_error", "Request body must be a JSON object")
        for key in ("model", "max_tokens", "messages"):
            if key not in body:
                return Error(400, "invalid_request_error", f"{key}: Field required")
        if not isinstance(body["messages"], list) or not body["messages"]:
            return Error(400, "invalid_request_error", "messages: at least one message is required")
        if self.known_models is not None and body["model"] not in self.known_models:
            return Error(404, "not_found_error", f"model: {body['model']}")
        problem = tool_problem(body)
        if problem is not None:
            return Error(400, "invalid_request_error", problem)
        return None

    async def _models(self, request: Request) -> Response:
        problem = self._auth_problem({k.lower(): v for k, v in request.headers.items()})
        if problem is not None:
            return error_response(problem)
        models = sorted(self.known_models or set())
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in models
        ]
        return JSONResponse(
            {
                "data": data,
                "has_more": False,
                "first_id": models[0] if models else None,
                "last_id": models[-1] if models else None,
            }
        )

    async def _messages(self, request: Request) -> Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        raw = await request.body()
        try:
            body: Any = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = None
        model = body.get("model") if isinstance(body, dict) else None
        stream = bool(body.get("stream")) if isinstance(body, dict) else False
        peer = request.client.port if request.client else None
        self.record(RecordedRequest("POST", request.url.path, headers, body, model, stream, peer=peer))

        problem = self._auth_problem(headers) or self._body_problem(body, headers)
        if problem is not None:
            return error_response(problem)
        if self.latency:
            await pause(self.latency, self.stopping)

        behaviour = self.next_behaviour(model)
        assert isinstance(body, dict) and isinstance(model, str)
        if isinstance(behaviour, Reset):
            reset_connection(request.scope)
            await request.is_disconnected()
            return Response(status_code=500)  # never written: the connection is gone
        if isinstance(behaviour, Error):
            return error_response(behaviour)
        if isinstance(behaviour, Hang) and (behaviour.after_chunks is None or not stream):
            await pause(behaviour.seconds, self.stopping)
            behaviour = Reply()
        if not stream:
            return await self._complete(body, model, behaviour)
        return StreamingResponse(
            self._stream(body, model, behaviour),
            media_type="text/event-stream",
            headers={"request-id": _request_id(), "cache-control": "no-cache"},
        )

    # ---- answers
    async def _complete(self, body: dict[str, Any], model: str, behaviour: Behaviour) -> Response:
        if isinstance(behaviour, MidStreamError):
            status = STATUS_FOR_ERROR_TYPE.get(behaviour.error_type, 500)
            return error_response(Error(status, behaviour.error_type, behaviour.message))
        if isinstance(behaviour, Disconnect):
            raise ConnectionAbortedError("fake: scripted disconnect")
        if isinstance(behaviour, ToolUse):
            return JSONResponse(
                {
                    "id": f"msg_{uuid.uuid4().hex[:24]}",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [
                        *([{"type": "text", "text": behaviour.text}] if behaviour.text else []),
                        *(
                            {"type": "tool_use", "id": _tool_id(c), "name": c.name, "input": dict(c.input)}
                            for c in behaviour.calls
                        ),
                    ],
                    "stop_reason": "tool_use",
                    "stop_sequence": None,
                    "usage": {"input_tokens": _tokens(body), "output_tokens": 1 + len(behaviour.calls)},
                },
                headers={"request-id": _request_id()},
            )
        reply = behaviour if isinstance(behaviour, Reply) else Reply()
        text = self._text(body, reply)
        if reply.delay:
            await pause(reply.delay * reply.chunks, self.stopping)
        return JSONResponse(
            {
                "id": f"msg_{uuid.uuid4().hex[:24]}",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": text}],
                "stop_reason": reply.stop_reason,
                "stop_sequence": None,
                "usage": {"input_tokens": _tokens(body), "output_tokens": max(1, len(text.split()))},
            },
            headers={"request-id": _request_id()},
        )

    @staticmethod
    def _text(body: dict[str, Any], reply: Reply) -> str:
        return reply.text if reply.text is not None else f"echo: {last_user_text(body.get('messages'))}"

    async def _stream(self, body: dict[str, Any], model: str, behaviour: Behaviour) -> AsyncIterator[bytes]:
        if isinstance(behaviour, ToolUse):
            async for event in self._stream_tools(body, model, behaviour):
                yield event
            return
        reply = behaviour if isinstance(behaviour, Reply) else Reply()
        text = self._text(body, reply)
        yield _message_start(body, model)
        yield _sse(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        )
        yield _sse("ping", {"type": "ping"})
        async for piece in play(behaviour, text, reply.delay, self.stopping):
            if isinstance(piece, MidStreamError):
                yield _sse("error", error_body(piece.error_type, piece.message))
                return
            if piece is STOPPED:
                return
            yield _sse(
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
            )
        yield _sse("content_block_stop", {"type": "content_block_stop", "index": 0})
        yield _message_end(reply.stop_reason, max(1, len(text.split())))

    async def _stream_tools(
        self, body: dict[str, Any], model: str, behaviour: ToolUse
    ) -> AsyncIterator[bytes]:
        """Text (if any) as block 0, then one ``tool_use`` block per call, its input in fragments."""
        yield _message_start(body, model)
        index = 0
        if behaviour.text:
            yield _sse(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            )
            yield _sse(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": behaviour.text},
                },
            )
            yield _sse("content_block_stop", {"type": "content_block_stop", "index": 0})
            index = 1
        yield _sse("ping", {"type": "ping"})
        for call in behaviour.calls:
            block = {"type": "tool_use", "id": _tool_id(call), "name": call.name, "input": {}}
            yield _sse(
                "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}
            )
            for fragment in tool_input_fragments(call, behaviour.fragments):
                yield _sse(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": fragment},
                    },
                )
            yield _sse("content_block_stop", {"type": "content_block_stop", "index": index})
            index += 1
        yield _message_end("tool_use", 1 + len(behaviour.calls))


def _tool_id(call: FakeToolCall) -> str:
    return call.id or f"toolu_{uuid.uuid4().hex[:24]}"


def _message_start(body: dict[str, Any], model: str) -> bytes:
    return _sse(
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": f"msg_{uuid.uuid4().hex[:24]}",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": _tokens(body), "output_tokens": 1},
            },
        },
    )


def _message_end(stop_reason: str, output_tokens: int) -> bytes:
    return _sse(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": output_tokens},
        },
    ) + _sse("message_stop", {"type": "message_stop"})


def _tokens(body: dict[str, Any]) -> int:
    return max(1, len(json.dumps(body.get("messages", ""))) // 4)


def main(argv: list[str] | None = None) -> None:
    serve_forever(FakeAnthropic(), argv)


if __name__ == "__main__":
    main()
