"""The assistant as an OpenAI-compatible endpoint, so any OpenAI client can talk to it.

The gateway keeps the conversation (session = the request's ``user`` field, default ``openai``): only the
last user message of ``messages`` is new input; the rest is already in the session transcript.
A request goes through the same durable inbox as every other channel.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from nexus.gateway.events import Overflow
from nexus.gateway.runtime import GatewayRuntime
from nexus.protocol import events as ev
from nexus.store import Run, RunStatus

ASSISTANT_MODEL_ID = "nexus"


def _error(
    status: int, message: str, kind: str = "invalid_request_error", code: str | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": None, "code": code}}, status_code=status
    )


def _last_user_text(messages: Any) -> str | None:
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            texts = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
            return "\n".join(t for t in texts if t) or None
        return None
    return None


async def list_models(runtime: GatewayRuntime, request: Request) -> Response:
    return JSONResponse(
        {
            "object": "list",
            "data": [{"id": ASSISTANT_MODEL_ID, "object": "model", "created": 0, "owned_by": "nexus"}],
        }
    )


async def chat_completions(runtime: GatewayRuntime, request: Request) -> Response:
    try:
        body = json.loads(await request.body())
    except ValueError:
        return _error(400, "request body is not JSON")
    if not isinstance(body, dict):
        return _error(400, "request body must be a JSON object")
    text = _last_user_text(body.get("messages"))
    if not text:
        return _error(400, "messages must contain a user message with text content")
    session = body.get("user") if isinstance(body.get("user"), str) and body.get("user") else "openai"
    key = request.headers.get("idempotency-key")
    if body.get("stream"):
        return StreamingResponse(_stream(runtime, session, text, key), media_type="text/event-stream")
    run, _ = runtime.accept(session=session, text=text, channel="openai", idempotency_key=key)
    finished = await runtime.wait_run(run.id, runtime.config.models.turn_timeout_s + 60)
    if finished is None or not finished.status.finished:
        return _error(
            504, f"no answer yet for run {run.id}; poll GET /api/runs/{run.id}", "timeout", "timeout"
        )
    if finished.status is RunStatus.FAILED:
        return _error(502, finished.error or "the run failed", "upstream_error", "run_failed")
    return JSONResponse(_completion(finished))


def _completion(run: Run) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{run.id}",
        "object": "chat.completion",
        "created": int(run.created_at),
        "model": run.model or ASSISTANT_MODEL_ID,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": run.answer or ""},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def _chunk(run_id: str, model: str, delta: dict[str, Any], finish: str | None = None) -> str:
    body = {
        "id": f"chatcmpl-{run_id}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n"


async def _stream(runtime: GatewayRuntime, session: str, text: str, key: str | None) -> AsyncIterator[str]:
    sub = runtime.bus.subscribe(lambda s: s == session)
    try:
        run, _ = runtime.accept(session=session, text=text, channel="openai", idempotency_key=key)
        model = ASSISTANT_MODEL_ID
        streamed = False
        yield _chunk(run.id, model, {"role": "assistant", "content": ""})
        current = runtime.store.get(run.id)
        if current is not None and current.status.finished:
            async for line in _finish_lines(current):
                yield line
            return
        while True:
            event = await sub.queue.get()
            if isinstance(event, Overflow):
                # too slow to drain: finish from the durable run instead of waiting for lost events
                final = await runtime.wait_run(run.id, runtime.config.models.turn_timeout_s + 60)
                if final is not None:
                    async for line in _finish_lines(final, streamed=streamed):
                        yield line
                return
            if getattr(event, "run_id", None) != run.id:
                continue
            if isinstance(event, ev.RunDelta):
                streamed = True
                yield _chunk(run.id, model, {"content": event.text})
            elif isinstance(event, ev.RunStatus) and event.model:
                model = event.model
            elif isinstance(event, ev.RunFallback) and event.after_tokens:
                note = (
                    f"\n\n[nexus: {event.from_model} failed ({event.reason}); "
                    f"answering again with {event.to_model}]\n\n"
                )
                yield _chunk(run.id, model, {"content": note})
            elif isinstance(event, ev.RunFinal | ev.RunError):
                final = runtime.store.get(run.id)
                if final is not None:
                    async for line in _finish_lines(final, streamed=streamed):
                        yield line
                return
    finally:
        runtime.bus.unsubscribe(sub)


async def _finish_lines(run: Run, *, streamed: bool = False) -> AsyncIterator[str]:
    model = run.model or ASSISTANT_MODEL_ID
    if run.status is RunStatus.FAILED:
        error = {
            "error": {
                "message": run.error or "the run failed",
                "type": "upstream_error",
                "code": "run_failed",
            }
        }
        yield f"data: {json.dumps(error)}\n\n"
    else:
        if not streamed and run.answer:
            yield _chunk(run.id, model, {"content": run.answer})
        yield _chunk(run.id, model, {}, finish="stop")
    yield "data: [DONE]\n\n"
