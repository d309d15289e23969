"""``GET /openapi.json``: the HTTP API as an OpenAPI 3.1 document (the WebSocket is in docs/protocol.md).

Written by hand, next to the routes, and kept true by ``tests/gateway/test_openapi.py``: it walks the
app's routes (every route documented, every documented route served) and validates real responses
against these schemas; ``make fuzz`` drives schemathesis from it against a real gateway.
Schemas are JSON Schema 2020-12 (what OpenAPI 3.1 uses), so any JSON Schema validator checks them.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nexus import __version__

OPENAPI_PATH = "/openapi.json"

_JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


_UNAUTHORIZED = _json(_ref("Error"), "missing or wrong gateway token")
_BAD_REQUEST = _json(_ref("Error"), "the request names the problem in error.message")
_BODY_LIMITS = {
    "408": _json(_ref("Error"), "the body did not arrive in time"),
    "413": _json(_ref("Error"), "the body is larger than the limit"),
}
_OPENAI_BODY_LIMITS = {
    "408": _json(_ref("OpenAIError"), "the body did not arrive in time"),
    "413": _json(_ref("OpenAIError"), "the body is larger than the limit"),
}
_SECURED = [{"bearer": []}]
_STR_OR_NULL = {"type": ["string", "null"]}


def _text(limit: int) -> dict[str, Any]:
    """A string with something in it (not only whitespace) and a length limit (protocol/messages.py)."""
    return {"type": "string", "minLength": 1, "maxLength": limit, "pattern": "\\S"}


_CONTENT = {
    "oneOf": [
        _text(200_000),
        {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["type", "text"],
                "properties": {"type": {"const": "text"}, "text": _text(200_000)},
            },
        },
    ]
}
_NUM_OR_NULL = {"type": ["number", "null"]}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    },
    "OpenAIError": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message", "type"],
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "param": _STR_OR_NULL,
                    "code": _STR_OR_NULL,
                },
            }
        },
    },
    "MessageIn": {
        "type": "object",
        "required": ["session", "text"],
        "properties": {
            "session": _text(200),
            "text": _text(200_000),
            "idempotency_key": {**_text(200), "type": ["string", "null"]},
        },
    },
    "Accepted": {
        "type": "object",
        "required": ["run_id", "status", "created"],
        "properties": {
            "run_id": {"type": "string"},
            "status": {"enum": ["queued", "running", "done", "failed"]},
            "created": {"type": "boolean", "description": "false when the idempotency key was seen before"},
        },
    },
    "Run": {
        "type": "object",
        "required": ["run_id", "session", "status", "text", "error", "model", "fell_back", "message"],
        "properties": {
            "run_id": {"type": "string"},
            "session": {"type": "string"},
            "status": {"enum": ["queued", "running", "done", "failed"]},
            "text": _STR_OR_NULL,
            "error": _STR_OR_NULL,
            "model": _STR_OR_NULL,
            "fell_back": {"type": "boolean"},
            "message": {"type": "string"},
            "created_at": {"type": "number"},
            "finished_at": _NUM_OR_NULL,
        },
    },
    "History": {
        "type": "object",
        "required": ["session", "runs"],
        "properties": {"session": {"type": "string"}, "runs": {"type": "array", "items": _ref("Run")}},
    },
    "Readiness": {
        "type": "object",
        "required": ["ready", "reasons"],
        "properties": {
            "ready": {"type": "boolean"},
            "reasons": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Status": {
        "type": "object",
        "required": ["version", "pid", "uptime_s", "ready", "not_ready_reasons", "queue_depth", "candidates"],
        "properties": {
            "version": {"type": "string"},
            "pid": {"type": "integer"},
            "uptime_s": {"type": "number"},
            "ready": {"type": "boolean"},
            "not_ready_reasons": {"type": "array", "items": {"type": "string"}},
            "queue_depth": {"type": "integer", "minimum": 0},
            "active_runs": {"type": "integer", "minimum": 0},
            "candidates": {"type": "array", "items": {"type": "object"}},
        },
    },
    "ChatCompletionRequest": {
        "type": "object",
        "required": ["messages"],
        "properties": {
            "model": {"description": "ignored: the gateway's model chain answers (see GET /v1/models)"},
            "messages": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "properties": {"role": {"type": "string", "not": {"enum": ["tool", "function"]}}},
                    "if": {"properties": {"role": {"const": "user"}}},
                    "then": {"required": ["content"], "properties": {"content": _CONTENT}},
                },
                "contains": {
                    "type": "object",
                    "properties": {"role": {"const": "user"}},
                    "required": ["role"],
                },
                "description": "the last user message is answered; client tools (role tool/function) are refused",
            },
            "n": {"enum": [1, None]},
            "stream": {"type": ["boolean", "null"]},
            "user": {
                "type": ["string", "null"],
                "maxLength": 200,
                "pattern": "^$|\\S",
                "description": "the Nexus session (default: openai)",
            },
            "stream_options": {"type": ["object", "null"]},
        },
    },
    "ChatCompletion": {
        "type": "object",
        "required": ["id", "object", "created", "model", "choices"],
        "properties": {
            "id": {"type": "string"},
            "object": {"const": "chat.completion"},
            "created": {"type": "integer"},
            "model": {"type": "string"},
            "choices": {"type": "array", "items": {"type": "object"}},
            "usage": {"type": "object"},
        },
    },
    "SSEEvent": {
        "type": "object",
        "description": "one server-sent event: data is a chat.completion.chunk as JSON, or [DONE]",
        "required": ["data"],
        "properties": {"data": {"type": "string"}, "event": {"type": "string"}},
    },
    "Approvals": {
        "type": "object",
        "required": ["approvals"],
        "properties": {"approvals": {"type": "array", "items": {"type": "object"}}},
    },
    "ModelList": {
        "type": "object",
        "required": ["object", "data"],
        "properties": {
            "object": {"const": "list"},
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "object"],
                    "properties": {"id": {"type": "string"}},
                },
            },
        },
    },
}


_APPROVAL_ID = {"name": "approval_id", "in": "path", "required": True, "schema": {"type": "string"}}
_APPROVAL_ANSWER = {
    "200": _json(
        {"type": "object", "required": ["approval"], "properties": {"approval": {"type": "object"}}},
        "answered",
    ),
    "404": _json(_ref("Error"), "no such approval"),
    "409": _json(_ref("Error"), "already answered or expired; nothing changed"),
}


def _op(summary: str, responses: dict[str, Any], *, secured: bool = True, **extra: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": responses, **extra}
    if secured:
        op["responses"] = {**responses, "401": _UNAUTHORIZED}
        op["security"] = _SECURED
    else:
        op["security"] = []
    return op


PATHS: dict[str, dict[str, Any]] = {
    "/healthz": {
        "get": _op(
            "Liveness: the event loop answers", {"200": _json({"type": "object"}, "alive")}, secured=False
        )
    },
    "/readyz": {
        "get": _op(
            "Readiness, with the reasons when not ready",
            {
                "200": _json(_ref("Readiness"), "ready"),
                "503": _json(_ref("Readiness"), "not ready: reasons say why"),
            },
            secured=False,
        )
    },
    "/status": {
        "get": _op(
            "The gateway's state for humans and `nexus status`", {"200": _json(_ref("Status"), "status")}
        )
    },
    "/api/messages": {
        "post": _op(
            "Send a message: committed as a run before the answer 202",
            {
                "202": _json(_ref("Accepted"), "accepted (or the earlier run of this idempotency key)"),
                "400": _BAD_REQUEST,
                **_BODY_LIMITS,
            },
            requestBody={"required": True, "content": {_JSON: {"schema": _ref("MessageIn")}}},
        )
    },
    "/api/runs/{run_id}": {
        "get": _op(
            "A run; with ?wait=S, once it finishes or S seconds pass (at most 300)",
            {
                "200": _json(_ref("Run"), "the run"),
                "400": _BAD_REQUEST,
                "404": _json(_ref("Error"), "no such run"),
            },
            parameters=[
                {"name": "run_id", "in": "path", "required": True, "schema": {"type": "string"}},
                {
                    "name": "wait",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "number", "minimum": 0},
                    "description": "seconds to wait for the answer, capped at 300",
                },
            ],
        )
    },
    "/api/sessions/{session}/history": {
        "get": _op(
            "A session's runs, newest last",
            {"200": _json(_ref("History"), "the runs"), "400": _BAD_REQUEST},
            parameters=[
                {"name": "session", "in": "path", "required": True, "schema": _text(200)},
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer"},
                    "description": "runs to return, clamped to 1..500 (default 50)",
                },
            ],
        )
    },
    "/v1/chat/completions": {
        "post": _op(
            "OpenAI-compatible chat completions (stream: true answers text/event-stream)",
            {
                "200": {
                    "description": "the answer",
                    "content": {
                        _JSON: {"schema": _ref("ChatCompletion")},
                        "text/event-stream": {"schema": _ref("SSEEvent")},
                    },
                },
                "400": _json(_ref("OpenAIError"), "bad request"),
                "502": _json(_ref("OpenAIError"), "every model failed"),
                "504": _json(_ref("OpenAIError"), "no answer within the turn deadline"),
                **_OPENAI_BODY_LIMITS,
            },
            requestBody={"required": True, "content": {_JSON: {"schema": _ref("ChatCompletionRequest")}}},
        )
    },
    "/v1/models": {"get": _op("OpenAI-compatible model list", {"200": _json(_ref("ModelList"), "models")})},
    "/api/approvals": {
        "get": _op(
            "Tool calls waiting for the owner (?all=1: the recent 50, closed ones too)",
            {"200": _json(_ref("Approvals"), "the approvals")},
            parameters=[{"name": "all", "in": "query", "required": False, "schema": {"type": "string"}}],
        )
    },
    "/api/approvals/{approval_id}/approve": {
        "post": _op("Approve a pending tool call", _APPROVAL_ANSWER, parameters=[_APPROVAL_ID])
    },
    "/api/approvals/{approval_id}/deny": {
        "post": _op("Deny a pending tool call", _APPROVAL_ANSWER, parameters=[_APPROVAL_ID])
    },
    "/channels/{channel}/{path}": {
        method: _op(
            "A platform's webhook (e.g. WhatsApp), answered and authenticated by the channel itself; "
            "open only for the paths an enabled channel registers, otherwise the gateway token is required",
            {
                "default": {"description": "what the channel answers its platform (any status and body)"},
                "404": {
                    "description": "no channels are running (JSON), or no such channel webhook (the channel's text)",
                    "content": {
                        _JSON: {"schema": _ref("Error")},
                        "text/plain": {"schema": {"type": "string"}},
                    },
                },
                **_BODY_LIMITS,
            },
            parameters=[
                {"name": "channel", "in": "path", "required": True, "schema": {"type": "string"}},
                {"name": "path", "in": "path", "required": True, "schema": {"type": "string"}},
            ],
        )
        for method in ("get", "post", "put")
    },
    "/v1/models/{model_id}": {
        "get": _op(
            "One model of the OpenAI-compatible list",
            {
                "200": _json({"type": "object", "required": ["id", "object"]}, "the model"),
                "404": _json(_ref("OpenAIError"), "no such model here"),
            },
            parameters=[{"name": "model_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        )
    },
    "/metrics": {
        "get": _op(
            "Prometheus metrics (open without a token when [gateway] metrics_public = true)",
            {
                "200": {
                    "description": "Prometheus text format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        )
    },
    OPENAPI_PATH: {"get": _op("This document", {"200": _json({"type": "object"}, "OpenAPI 3.1")})},
}

WEBSOCKETS = {"/ws": "the gateway protocol: docs/protocol.md (frames req/res/event, first frame connect)"}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Nexus gateway", "version": __version__, "x-websockets": WEBSOCKETS},
        "servers": [{"url": "http://127.0.0.1:18789"}],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the token printed by `nexus token`",
                }
            },
        },
    }


def route() -> Route:
    body = document()

    async def openapi(request: Request) -> Response:
        return JSONResponse(body)

    return Route(OPENAPI_PATH, openapi, methods=["GET"])
