"""HTTP routes of the gateway; the WebSocket and the OpenAI-compatible endpoint live beside it.

``build_app`` takes a runtime and returns an ASGI app: no module state, one app per runtime.
"""

from __future__ import annotations

import math

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp
from starlette.websockets import WebSocket

from nexus.channels.base import WebhookRequest
from nexus.common.secret import Secret
from nexus.gateway import openapi
from nexus.gateway.approvals_api import approval_routes
from nexus.gateway.bodies import BodyError, read_body, read_json
from nexus.gateway.metrics import METRICS_PATH, GatewayMetrics
from nexus.gateway.middleware import OPEN_PATHS, TokenAuthMiddleware
from nexus.gateway.openai_compat import chat_completions, get_model, list_models, openai_error
from nexus.gateway.runtime import GatewayRuntime
from nexus.gateway.ws import websocket_endpoint
from nexus.protocol.messages import InvalidInput, check_session, validate_message

MAX_WAIT_S = 300.0


def error_response(status: int, code: str, message: str) -> JSONResponse:
    """The documented error shape outside ``/v1`` (docs/protocol.md, "Errors")."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def parse_wait(raw: str) -> float:
    """``?wait=S``: a finite number of seconds >= 0 (capped at MAX_WAIT_S); InvalidInput otherwise."""
    try:
        wait = float(raw)
    except ValueError:
        wait = math.nan
    if not math.isfinite(wait) or wait < 0:
        raise InvalidInput("wait", f"must be a number of seconds from 0 to {MAX_WAIT_S:g}, got {raw[:40]!r}")
    return min(wait, MAX_WAIT_S)


def _is_openai(request: Request) -> bool:
    return request.url.path == "/v1" or request.url.path.startswith("/v1/")


async def not_found(request: Request, exc: Exception) -> Response:
    message = f"no route {request.method} {request.url.path} (docs/protocol.md lists the routes)"
    if _is_openai(request):
        return openai_error(404, message, code="unknown_url")
    return error_response(404, "not_found", message)


async def not_allowed(request: Request, exc: Exception) -> Response:
    message = f"{request.method} is not allowed on {request.url.path}"
    if _is_openai(request):
        response = openai_error(405, message, code="method_not_allowed")
    else:
        response = error_response(405, "method_not_allowed", message)
    response.headers.update(getattr(exc, "headers", None) or {})  # Allow: (RFC 9110; found by make fuzz)
    return response


async def server_error(request: Request, exc: Exception) -> Response:
    """A bug, answered in the documented shape (the traceback goes to the log, never to the client)."""
    message = f"internal error in the gateway: {type(exc).__name__}; the log has the details"
    if _is_openai(request):
        return openai_error(500, message, "server_error", "internal")
    return error_response(500, "internal", message)


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
            body = await read_json(request)
            if not isinstance(body, dict):
                raise InvalidInput("body", "must be a JSON object with session and text")
            message = validate_message(
                session=body.get("session"),
                text=body.get("text"),
                idempotency_key=body.get("idempotency_key"),
            )
        except BodyError as exc:
            return error_response(exc.status, "bad_request", exc.message)
        except InvalidInput as exc:
            return error_response(400, "bad_request", exc.message)
        run, created = runtime.accept(
            session=message.session, text=message.text, channel="api", idempotency_key=message.idempotency_key
        )
        return JSONResponse(
            {"run_id": run.id, "status": run.status.value, "created": created}, status_code=202
        )

    async def get_run(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        try:
            wait = parse_wait(request.query_params.get("wait", "0"))
        except InvalidInput as exc:
            return error_response(400, "bad_request", exc.message)
        run = await runtime.wait_run(run_id, wait)
        if run is None:
            return error_response(404, "not_found", f"no run {run_id}")
        return JSONResponse(run.to_api())

    async def session_history(request: Request) -> Response:
        try:
            name = check_session(request.path_params["session"])
            limit = min(max(int(request.query_params.get("limit", "50")), 1), 500)
        except InvalidInput as exc:
            return error_response(400, "bad_request", exc.message)
        except ValueError:
            return error_response(400, "bad_request", "limit: must be an integer")
        return JSONResponse(
            {"session": name, "runs": [r.to_api() for r in runtime.store.session_runs(name, limit=limit)]}
        )

    async def openai_chat(request: Request) -> Response:
        return await chat_completions(runtime, request)

    async def openai_models(request: Request) -> Response:
        return await list_models(runtime, request)

    async def openai_model(request: Request) -> Response:
        return await get_model(runtime, request)

    async def channel_webhook(request: Request) -> Response:
        """``/channels/NAME/PATH``: a platform's webhook, answered by the channel (which checks it)."""
        channels = runtime.channels
        if channels is None:
            return error_response(404, "not_found", "no channels are running")
        try:
            body = await read_body(request)
        except BodyError as exc:
            return error_response(exc.status, "bad_request", exc.message)
        answer = await channels.webhook(
            request.path_params["channel"],
            WebhookRequest(
                method=request.method,
                path="/" + request.path_params["path"],
                query=dict(request.query_params),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
            ),
        )
        return Response(
            answer.body,
            status_code=answer.status,
            media_type=answer.content_type,
            headers=dict(answer.headers),
        )

    def webhook_urls() -> frozenset[str]:
        return runtime.channels.webhook_urls() if runtime.channels is not None else frozenset()

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
        Route("/v1/models/{model_id:path}", openai_model),
        Route("/channels/{channel}/{path:path}", channel_webhook, methods=["GET", "POST", "PUT"]),
        WebSocketRoute("/ws", ws_endpoint),
        *approval_routes(runtime),
        # observability (gateway/metrics.py, gateway/openapi.py)
        GatewayMetrics(runtime).route(),
        openapi.route(),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={404: not_found, 405: not_allowed, 500: server_error},
    )
    open_paths = OPEN_PATHS | ({METRICS_PATH} if runtime.config.gateway.metrics_public else set())
    origins = {
        f"http://127.0.0.1:{port}",
        f"http://localhost:{port}",
        *runtime.config.gateway.allowed_origins,
    }
    return TokenAuthMiddleware(
        app, token=token, allowed_origins=frozenset(origins), extra_open=webhook_urls, open_paths=open_paths
    )
