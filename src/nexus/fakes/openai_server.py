"""A protocol-faithful fake of an OpenAI-compatible API (``/v1/chat/completions``, ``/v1/models``).

It answers the way api.openai.com (and OpenRouter, Ollama's ``/v1``) answer, so the real ``openai``
SDK and plain httpx work against it unchanged:

- auth: ``Authorization: Bearer <key>`` (``require_key=False`` for a keyless local server);
  ``accept_token`` decides which keys are live;
- non-streaming ``chat.completion`` and ``stream: true`` SSE of ``chat.completion.chunk`` objects
  ending in ``data: [DONE]`` (usage chunk when ``stream_options.include_usage``);
- real error bodies ``{"error":{"message","type","param","code"}}`` with ``retry-after`` on 429s,
  and ``data: {"error": {...}}`` mid-stream;
- tools: ``tools`` must be ``{"type": "function", "function": {"name", ...}}``; a scripted
  :class:`ToolUse` answers with ``tool_calls`` (streamed as indexed deltas, the first naming the
  call, then ``arguments`` fragments; finish reason ``tool_calls``); a ``role: tool`` message must
  answer a ``tool_calls`` id of the assistant message before it, as the real API insists.

``fake.base_url`` ends with ``/v1`` (what ``OPENAI_BASE_URL`` takes).
Run alone: ``python -m nexus.fakes.openai_server --port 8124``.
"""

from __future__ import annotations

import json
import time
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
    "FakeOpenAI",
    "FakeToolCall",
    "Hang",
    "MidStreamError",
    "Reply",
    "Reset",
    "ToolUse",
]

# status -> (type, code, message): what api.openai.com sends for each
DEFAULT_ERROR: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request"),
    401: (
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
    ),
    402: (
        "insufficient_quota",
        "insufficient_quota",
        "Insufficient credits. Add more using the billing page.",
    ),
    403: (
        "invalid_request_error",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported",
    ),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model does not exist or you do not have access to it.",
    ),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests per min (RPM): Limit 500, Used 500, Requested 1. "
        "Please try again in 1s. Visit https://platform.openai.com/account/rate-limits to learn more.",
    ),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The server is overloaded or not ready yet."),
    529: ("overloaded_error", None, "Overloaded"),
}
STATUS_FOR_ERROR_TYPE = {"overloaded_error": 529, "server_error": 500, "rate_limit_error": 429}


def error_body(
    message: str, error_type: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def error_response(error: Error) -> JSONResponse:
    default_type, default_code, default_message = DEFAULT_ERROR.get(
        error.status, ("server_error", None, "Error")
    )
    body = error_body(
        error.message or default_message,
        error.error_type or default_type,
        error.code if error.code is not None else default_code,
        "messages" if error.code == "context_length_exceeded" else None,
    )
    headers = {"x-request-id": f"req_{uuid.uuid4().hex[:24]}", **error.headers}
    if error.retry_after is not None:
        seconds = error.retry_after
        headers["retry-after"] = str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"
        headers["retry-after-ms"] = str(int(seconds * 1000))
    return JSONResponse(body, status_code=error.status, headers=headers)


def last_user_text(messages: Any) -> str:
    """The last user text, or the last tool result's content when the conversation ends with one."""
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "tool":
            return str(message.get("content") or "")
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(
                    str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text"
                )
    return ""


def tool_problem(body: dict[str, Any]) -> str | None:
    """What the real API refuses about tools and tool messages (None: nothing)."""
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            return "Invalid type for 'tools': expected an array."
        for i, tool in enumerate(tools):
            function = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(function, dict):
                return f"Missing required parameter: 'tools[{i}].function'."
            if not function.get("name"):
                return f"Missing required parameter: 'tools[{i}].function.name'."
    asked: set[str] = set()
    for i, message in enumerate(body["messages"]):
        if not isinstance(message, dict):
            continue
        if message.get("role") == "assistant":
            asked = {c.get("id") for c in message.get("tool_calls") or () if isinstance(c, dict)}
        elif message.get("role") == "tool":
            if message.get("tool_call_id") not in asked:
                return (
                    f"Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                    f"message with 'tool_calls'. (messages[{i}])"
                )
        else:
            asked = set()
    return None


def _data(payload: Mapping[str, Any] | str) -> bytes:
    text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {text}\n\n".encode()


class FakeOpenAI(FakeModelServer):
    """An OpenAI-compatible chat completions API, scriptable per test and per model."""

    api_name = "openai"
    base_path = "/v1"

    def __init__(
        self, *, port: int = 0, known_models: set[str] | None = None, require_key: bool = True
    ) -> None:
        super().__init__(port=port, known_models=known_models)
        self.require_key = require_key

    def build_app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._completions, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/v1/models/{model:path}", self._model, methods=["GET"]),
                Route("/_fake/{action}", self.control, methods=["GET", "POST"]),
            ]
        )

    def _auth_problem(self, headers: Mapping[str, str]) -> Error | None:
        authorization = headers.get("authorization", "")
        has_key = authorization.lower().startswith("bearer ") and authorization[7:].strip()
        if self.require_key and not has_key:
            return Error(
                401,
                "invalid_request_error",
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        if self.accept_token is not None and not self.accept_token(headers):
            return Error(401)
        return None

    def _body_problem(self, body: Any) -> Error | None:
        if not isinstance(body, dict):
            return Error(400, message="We could not parse the JSON body of your request.")
        for key in ("model", "messages"):
            if key not in body:
                return Error(400, message=f"you must provide a {key} parameter")
        if self.known_models is not None and body["model"] not in self.known_models:
            return Error(
                404,
                code="model_not_found",
                message=f"The model `{body['model']}` does not exist or you do not have access to it.",
            )
        problem = tool_problem(body)
        if problem is not None:
            return Error(400, message=problem)
        return None

    async def _models(self, request: Request) -> Response:
        problem = self._auth_problem({k.lower(): v for k, v in request.headers.items()})
        if problem is not None:
            return error_response(problem)
        data = [
            {"id": m, "object": "model", "created": 1700000000, "owned_by": "fake"}
            for m in sorted(self.known_models or set())
        ]
        return JSONResponse({"object": "list", "data": data})

    async def _model(self, request: Request) -> Response:
        problem = self._auth_problem({k.lower(): v for k, v in request.headers.items()})
        if problem is not None:
            return error_response(problem)
        model = request.path_params["model"]
        if self.known_models is not None and model not in self.known_models:
            return error_response(
                Error(404, code="model_not_found", message=f"The model `{model}` does not exist")
            )
        return JSONResponse({"id": model, "object": "model", "created": 1700000000, "owned_by": "fake"})

    async def _completions(self, request: Request) -> Response:
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

        problem = self._auth_problem(headers) or self._body_problem(body)
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
            headers={"x-request-id": f"req_{uuid.uuid4().hex[:24]}", "cache-control": "no-cache"},
        )

    @staticmethod
    def _text(body: dict[str, Any], reply: Reply) -> str:
        return reply.text if reply.text is not None else f"echo: {last_user_text(body.get('messages'))}"

    async def _complete(self, body: dict[str, Any], model: str, behaviour: Behaviour) -> Response:
        if isinstance(behaviour, MidStreamError):
            status = STATUS_FOR_ERROR_TYPE.get(behaviour.error_type, 500)
            return error_response(Error(status, behaviour.error_type, behaviour.message))
        if isinstance(behaviour, Disconnect):
            raise ConnectionAbortedError("fake: scripted disconnect")
        if isinstance(behaviour, ToolUse):
            prompt, completion = _tokens(body), 1 + len(behaviour.calls)
            calls = [
                {
                    "id": _call_id(c),
                    "type": "function",
                    "function": {"name": c.name, "arguments": json.dumps(dict(c.input))},
                }
                for c in behaviour.calls
            ]
            message = {
                "role": "assistant",
                "content": behaviour.text or None,
                "refusal": None,
                "tool_calls": calls,
            }
            return JSONResponse(_completion(model, message, "tool_calls", prompt, completion))
        reply = behaviour if isinstance(behaviour, Reply) else Reply()
        text = self._text(body, reply)
        if reply.delay:
            await pause(reply.delay * reply.chunks, self.stopping)
        prompt, completion = _tokens(body), max(1, len(text.split()))
        message = {"role": "assistant", "content": text, "refusal": None}
        return JSONResponse(_completion(model, message, _finish(reply.stop_reason), prompt, completion))

    async def _stream(self, body: dict[str, Any], model: str, behaviour: Behaviour) -> AsyncIterator[bytes]:
        reply = behaviour if isinstance(behaviour, Reply) else Reply()
        text = behaviour.text if isinstance(behaviour, ToolUse) else self._text(body, reply)
        base = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": None,
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return _data({**base, "choices": [choice]})

        yield chunk({"role": "assistant", "content": "", "refusal": None})
        if isinstance(behaviour, ToolUse):
            if behaviour.text:
                yield chunk({"content": behaviour.text})
            for i, call in enumerate(behaviour.calls):
                head = {"index": i, "id": _call_id(call), "type": "function"}
                yield chunk({"tool_calls": [{**head, "function": {"name": call.name, "arguments": ""}}]})
                for fragment in tool_input_fragments(call, behaviour.fragments):
                    yield chunk({"tool_calls": [{"index": i, "function": {"arguments": fragment}}]})
            yield chunk({}, "tool_calls")
        else:
            async for piece in play(behaviour, text, reply.delay, self.stopping):
                if isinstance(piece, MidStreamError):
                    yield _data(error_body(piece.message, piece.error_type))
                    return
                if piece is STOPPED:
                    return
                yield chunk({"content": piece})
            yield chunk({}, _finish(reply.stop_reason))
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            prompt, completion = _tokens(body), max(1, len(text.split()))
            usage = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
            yield _data({**base, "choices": [], "usage": usage})
        yield _data("[DONE]")


def _completion(
    model: str, message: dict[str, Any], finish: str, prompt: int, completion: int
) -> dict[str, Any]:
    """A non-streaming ``chat.completion`` object with one choice."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
        "system_fingerprint": None,
    }


def _call_id(call: FakeToolCall) -> str:
    return call.id or f"call_{uuid.uuid4().hex[:24]}"


def _finish(stop_reason: str) -> str:
    return {"end_turn": "stop", "max_tokens": "length"}.get(stop_reason, stop_reason)


def _tokens(body: dict[str, Any]) -> int:
    return max(1, len(json.dumps(body.get("messages", ""))) // 4)


def main(argv: list[str] | None = None) -> None:
    serve_forever(FakeOpenAI(), argv)


if __name__ == "__main__":
    main()
