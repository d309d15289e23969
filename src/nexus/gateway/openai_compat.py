"""The assistant as an OpenAI-compatible endpoint, so any OpenAI client can talk to it.

The gateway keeps the conversation (session = the request's ``user`` field, default ``openai``): only the
last user message of ``messages`` is new input; the rest is already in the session transcript.
A request goes through the same durable inbox and the same validator as every other door.

A request with ``tools`` brings its own conversation and tool set instead (``openai_tools``): Nexus
runs none of those tools and offers none of its own; the model's calls end the run and come back as
``tool_calls`` (finish reason ``tool_calls``), the client's results arrive in its next request.

What the endpoint does not support is refused with a 400 that says so, never silently ignored:
``n`` > 1, ``tool_choice`` other than ``auto``, the legacy ``functions``. Errors under ``/v1`` use OpenAI's shape; a stream that fails after it began ends
with an error chunk and ``[DONE]``, never a cut connection.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from nexus.agent.journal import ModelCalled
from nexus.agent.loop import load_journal
from nexus.gateway.bodies import BodyError, read_json
from nexus.gateway.events import Overflow
from nexus.gateway.openai_tools import parse_client_turn, tool_calls_json
from nexus.gateway.runtime import GatewayRuntime
from nexus.protocol import events as ev
from nexus.protocol.messages import OPENAI_FIELDS, InvalidInput, validate_message
from nexus.store import Run, RunStatus

log = logging.getLogger(__name__)

ASSISTANT_MODEL_ID = "nexus"
DEFAULT_SESSION = "openai"


def openai_error(
    status: int,
    message: str,
    kind: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
) -> JSONResponse:
    return JSONResponse({"error": _error_body(message, kind, code, param)}, status_code=status)


def _error_body(message: str, kind: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"message": message, "type": kind, "param": param, "code": code}


@dataclass(frozen=True)
class CompletionRequest:
    session: str
    text: str
    idempotency_key: str | None
    stream: bool
    include_usage: bool
    client_turn: str | None = None
    """JSON of the client's tools and conversation (``ClientTurn``) when the request brings tools."""


def parse_request(body: Any, headers: Mapping[str, str]) -> CompletionRequest:
    """Pure: the request as Nexus serves it, or InvalidInput naming the parameter and the fix."""
    if not isinstance(body, dict):
        raise InvalidInput("body", "must be a JSON object")
    n = body.get("n", 1)
    if n is not None and n != 1:
        raise InvalidInput("n", f"only n=1 is supported (one answer per message), got {n!r}")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidInput("messages", "must be a non-empty list of messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidInput(f"messages[{i}]", "must be an object with role and content")
    client = parse_client_turn(body)
    stream = body.get("stream", False)
    if not isinstance(stream, bool | None):
        raise InvalidInput("stream", "must be true or false")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise InvalidInput("stream_options", "must be an object")
    user = body.get("user")
    message = validate_message(
        session=DEFAULT_SESSION if user is None or user == "" else user,
        text=_last_user_text(messages),
        idempotency_key=headers.get("idempotency-key"),
        fields=OPENAI_FIELDS,
    )
    return CompletionRequest(
        session=message.session,
        text=message.text,
        idempotency_key=message.idempotency_key,
        stream=bool(stream),
        include_usage=bool(stream and options and options.get("include_usage")),
        client_turn=client.to_json() if client is not None else None,
    )


def _last_user_text(messages: list[Any]) -> Any:
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, list):
            texts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
            return "\n".join(t for t in texts if isinstance(t, str) and t)
        return content
    raise InvalidInput("messages", "must contain a user message with text content")


def model_object(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "nexus"}


async def list_models(runtime: GatewayRuntime, request: Request) -> Response:
    return JSONResponse({"object": "list", "data": [model_object(ASSISTANT_MODEL_ID)]})


async def get_model(runtime: GatewayRuntime, request: Request) -> Response:
    model_id = request.path_params["model_id"]
    if model_id != ASSISTANT_MODEL_ID:
        return openai_error(
            404,
            f"model {model_id!r} does not exist here; this gateway serves {ASSISTANT_MODEL_ID!r}",
            code="model_not_found",
            param="model",
        )
    return JSONResponse(model_object(model_id))


async def chat_completions(runtime: GatewayRuntime, request: Request) -> Response:
    try:
        req = parse_request(await read_json(request), request.headers)
    except BodyError as exc:
        return openai_error(exc.status, exc.message)
    except InvalidInput as exc:
        return openai_error(400, exc.message, param=exc.field)
    if req.stream:
        return StreamingResponse(_guarded(_stream(runtime, req)), media_type="text/event-stream")
    run, _ = _accept(runtime, req)
    finished = await runtime.wait_run(run.id, runtime.config.models.turn_timeout_s + 60)
    if finished is None or not finished.status.finished:
        return openai_error(
            504, f"no answer yet for run {run.id}; poll GET /api/runs/{run.id}", "timeout", "timeout"
        )
    if finished.status is RunStatus.FAILED:
        return openai_error(502, finished.error or "the run failed", "upstream_error", "run_failed")
    return JSONResponse(_completion(finished, usage_of(runtime, finished), tool_calls_of(runtime, finished)))


def _accept(runtime: GatewayRuntime, req: CompletionRequest) -> tuple[Run, bool]:
    return runtime.accept(
        session=req.session,
        text=req.text,
        channel="openai",
        idempotency_key=req.idempotency_key,
        client_turn=req.client_turn,
    )


def tool_calls_of(runtime: GatewayRuntime, run: Run) -> list[dict[str, Any]]:
    """The client's tools the run's last model call asked for (a client-tools run ends there)."""
    if run.client_turn is None or run.status is not RunStatus.DONE:
        return []
    calls = [e for e in load_journal(runtime.store, run.id) if isinstance(e, ModelCalled)]
    return tool_calls_json(calls[-1].calls) if calls else []


def usage_of(runtime: GatewayRuntime, run: Run) -> ev.Usage:
    """The usage the run's committed model step recorded (zeros until the model layer reports it)."""
    for step in reversed(runtime.store.steps(run.id)):
        raw = step.payload.get("usage")
        if isinstance(raw, dict):
            return ev.Usage(
                input_tokens=int(raw.get("input_tokens") or 0),
                output_tokens=int(raw.get("output_tokens") or 0),
            )
    return ev.Usage()


def _usage_json(usage: ev.Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }


def _completion(run: Run, usage: ev.Usage, tool_calls: list[dict[str, Any]]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": run.answer or ""}
    if tool_calls:  # as OpenAI answers: no text before the calls is null content
        message.update(content=run.answer or None, tool_calls=tool_calls)
    return {
        "id": f"chatcmpl-{run.id}",
        "object": "chat.completion",
        "created": int(run.created_at),
        "model": run.model or ASSISTANT_MODEL_ID,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if tool_calls else "stop",
            }
        ],
        "usage": _usage_json(usage),
    }


def _sse(body: dict[str, Any] | str) -> str:
    return f"data: {body if isinstance(body, str) else json.dumps(body)}\n\n"


DONE = _sse("[DONE]")


class _Chunks:
    """Chunks of one streamed completion: one id, one creation time, one model name for all of them."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.created = int(time.time())
        self.model: str | None = None

    def chunk(self, delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> str:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
        body = {
            "id": f"chatcmpl-{self.run_id}",
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model or ASSISTANT_MODEL_ID,
            "choices": choices,
            **extra,
        }
        return _sse(body)


async def _guarded(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """Whatever fails once the 200 is sent ends the stream with an error chunk and ``[DONE]``."""
    try:
        async for line in lines:
            yield line
    except Exception as exc:
        log.exception("the /v1 stream failed")
        yield _sse(
            {
                "error": _error_body(
                    f"internal error in the gateway: {type(exc).__name__}", "server_error", "internal"
                )
            }
        )
        yield DONE


async def _stream(runtime: GatewayRuntime, req: CompletionRequest) -> AsyncIterator[str]:
    sub = runtime.bus.subscribe(lambda s: s == req.session)
    try:
        run, _ = _accept(runtime, req)
        out = _Chunks(run.id)
        started = False
        streamed = False

        def begin() -> list[str]:
            nonlocal started
            if started:
                return []
            started = True
            return [out.chunk({"role": "assistant", "content": ""})]

        current = runtime.store.get(run.id)
        while current is None or not current.status.finished:
            event = await sub.queue.get()
            if isinstance(event, Overflow):
                # too slow to drain: finish from the durable run instead of waiting for lost events
                current = await runtime.wait_run(run.id, runtime.config.models.turn_timeout_s + 60)
                break
            if getattr(event, "run_id", None) != run.id:
                continue
            if isinstance(event, ev.RunStatus) and event.model and out.model is None:
                out.model = event.model  # the first model tried names every chunk, fallback or not
            elif isinstance(event, ev.RunDelta):
                for line in begin():
                    yield line
                streamed = True
                yield out.chunk({"content": event.text})
            elif isinstance(event, ev.RunFallback) and event.after_tokens:
                note = f"\n\n[nexus: {event.from_model} failed ({event.reason}); answering again with {event.to_model}]\n\n"
                yield out.chunk({"content": note})
            elif isinstance(event, ev.RunEnded):
                current = runtime.store.get(run.id)
                break
        if current is None or not current.status.finished:
            yield _sse(
                {
                    "error": _error_body(
                        f"no answer yet for run {run.id}; poll GET /api/runs/{run.id}", "timeout", "timeout"
                    )
                }
            )
            yield DONE
            return
        if out.model is None:
            out.model = current.model
        if current.status is RunStatus.FAILED:
            yield _sse(
                {"error": _error_body(current.error or "the run failed", "upstream_error", "run_failed")}
            )
            yield DONE
            return
        for line in begin():
            yield line
        if not streamed and current.answer:
            yield out.chunk({"content": current.answer})
        calls = tool_calls_of(runtime, current)
        for index, call in enumerate(calls):
            yield out.chunk({"tool_calls": [{"index": index, **call}]})
        yield out.chunk({}, finish="tool_calls" if calls else "stop")
        if req.include_usage:
            yield out.chunk(None, usage=_usage_json(usage_of(runtime, current)))
        yield DONE
    finally:
        runtime.bus.unsubscribe(sub)
