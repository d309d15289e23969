"""HTTP routes of the gateway; the WebSocket and the OpenAI-compatible endpoint live beside it.

``build_app`` takes a runtime and returns an ASGI app: no module state, one app per runtime.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp
from starlette.websockets import WebSocket

from nexus.common.secret import Secret
from nexus.gateway.middleware import TokenAuthMiddleware
from nexus.gateway.openai_compat import chat_completions, list_models
from nexus.gateway.runtime import GatewayRuntime
from nexus.gateway.ws import websocket_endpoint

MAX_WAIT_S = 300.0
MAX_TEXT = 200_000


class MessageIn(BaseModel):
    session: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def read_json(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError as exc:
        raise BadBody(f"body is not JSON: {exc}") from exc


class BadBody(ValueError):
    pass


def validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ())) or "body"
        parts.append(f"{where}: {err.get('msg')}")
    return "; ".join(parts)


def build_app(runtime: GatewayRuntime, *, token: Secret, port: int) -> ASGIApp:
    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def readyz(request: Request) -> Response:
        ready, reasons = runtime.readiness()
        return JSONResponse({"ready": ready, "reasons": reasons}, status_code=200 if ready else 503)

    async def status(request: Request) -> Response:
        return JSONResponse(runtime.status())

    async def post_message(request: Request) -> Response:
        try:
            body = MessageIn.model_validate(await read_json(request))
        except BadBody as exc:
            return error_response(400, "bad_request", str(exc))
        except ValidationError as exc:
            return error_response(400, "bad_request", validation_message(exc))
        run, created = runtime.accept(
            session=body.session, text=body.text, channel="api", idempotency_key=body.idempotency_key
        )
        return JSONResponse(
            {"run_id": run.id, "status": run.status.value, "created": created}, status_code=202
        )

    async def get_run(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        raw_wait = request.query_params.get("wait", "0")
        try:
            wait = min(max(float(raw_wait), 0.0), MAX_WAIT_S)
        except ValueError:
            return error_response(400, "bad_request", f"wait must be a number of seconds, got {raw_wait!r}")
        run = await runtime.wait_run(run_id, wait)
        if run is None:
            return error_response(404, "not_found", f"no run {run_id}")
        return JSONResponse(run.to_api())

    async def session_history(request: Request) -> Response:
        name = request.path_params["session"]
        try:
            limit = min(max(int(request.query_params.get("limit", "50")), 1), 500)
        except ValueError:
            return error_response(400, "bad_request", "limit must be an integer")
        return JSONResponse(
            {"session": name, "runs": [r.to_api() for r in runtime.store.session_runs(name, limit=limit)]}
        )

    async def openai_chat(request: Request) -> Response:
        return await chat_completions(runtime, request)

    async def openai_models(request: Request) -> Response:
        return await list_models(runtime, request)

    async def ws_endpoint(ws: WebSocket) -> None:
        await websocket_endpoint(runtime, ws, token=token)

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/status", status),
        Route("/api/messages", post_message, methods=["POST"]),
        Route("/api/runs/{run_id}", get_run),
        Route("/api/sessions/{session}/history", session_history),
        Route("/v1/chat/completions", openai_chat, methods=["POST"]),
        Route("/v1/models", openai_models),
        WebSocketRoute("/ws", ws_endpoint),
    ]
    app = Starlette(routes=routes)
    origins = {
        f"http://127.0.0.1:{port}",
        f"http://localhost:{port}",
        *runtime.config.gateway.allowed_origins,
    }
    return TokenAuthMiddleware(app, token=token, allowed_origins=frozenset(origins))
