"""``/openapi.json`` stays true: every route is documented, every documented route is served, and real
responses of a real gateway validate against the documented schemas (statuses included)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import jsonschema
from starlette.routing import Route, WebSocketRoute

from nexus.common.secret import Secret
from nexus.gateway.app import build_app
from nexus.models.turn import TurnFailed
from tests.gateway.conftest import RunningGateway, ScriptedRouter

METHODS = {"get", "post", "put", "patch", "delete"}


def served_routes(gw: RunningGateway) -> tuple[set[tuple[str, str]], set[str]]:
    app = build_app(gw.runtime, token=Secret("t" * 20), port=1)
    routes = app.app.routes  # type: ignore[attr-defined]  # the Starlette app inside the token wrapper
    http = {
        (re.sub(r"\{(\w+):\w+\}", r"{\1}", r.path), m.lower())
        for r in routes
        if isinstance(r, Route)
        for m in (r.methods or ())
        if m != "HEAD"
    }
    ws = {r.path for r in routes if isinstance(r, WebSocketRoute)}
    return http, ws


def check(doc: dict[str, Any], path: str, method: str, response: httpx.Response) -> None:
    """The status is documented for this operation and the body validates against its schema."""
    op = doc["paths"][path][method]
    status = str(response.status_code)
    assert status in op["responses"], (
        f"{method.upper()} {path} answered undocumented {status}: {response.text}"
    )
    content = op["responses"][status].get("content", {})
    media = response.headers["content-type"].split(";")[0]
    assert media in content, f"{method.upper()} {path} {status} answered {media}, documented {list(content)}"
    if media == "application/json":
        schema = {"components": doc["components"], **content[media]["schema"]}
        jsonschema.validate(response.json(), schema, cls=jsonschema.Draft202012Validator)


async def test_every_route_is_documented_and_every_documented_route_exists(gateway: RunningGateway) -> None:
    async with gateway.client() as client:
        doc = (await client.get("/openapi.json")).json()
    jsonschema.Draft202012Validator.check_schema({"components": doc["components"]})
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops if m in METHODS}
    http, ws = served_routes(gateway)
    assert http - documented == set(), "routes served but not in /openapi.json"
    assert documented - http == set(), "documented in /openapi.json but not served"
    assert set(doc["info"]["x-websockets"]) == ws


async def test_openapi_needs_the_token(gateway: RunningGateway) -> None:
    async with gateway.client(token="") as anon:
        response = await anon.get("/openapi.json")
    assert response.status_code == 401


async def test_real_responses_validate_against_the_document(
    gateway: RunningGateway, router: ScriptedRouter
) -> None:
    async with gateway.client() as client:
        doc = (await client.get("/openapi.json")).json()
        check(doc, "/openapi.json", "get", await client.get("/openapi.json"))
        check(doc, "/healthz", "get", await client.get("/healthz"))
        check(doc, "/readyz", "get", await client.get("/readyz"))
        check(doc, "/status", "get", await client.get("/status"))
        check(doc, "/metrics", "get", await client.get("/metrics"))
        check(doc, "/v1/models", "get", await client.get("/v1/models"))
        check(doc, "/api/approvals", "get", await client.get("/api/approvals"))
        check(
            doc,
            "/api/approvals/{approval_id}/approve",
            "post",
            await client.post("/api/approvals/nope/approve"),
        )
        check(doc, "/v1/models/{model_id}", "get", await client.get("/v1/models/nexus"))
        check(doc, "/v1/models/{model_id}", "get", await client.get("/v1/models/gpt-unknown"))
        check(doc, "/api/messages", "post", await client.post("/api/messages", content=b"x" * 3_000_000))
        accepted = await client.post("/api/messages", json={"session": "s", "text": "hi"})
        check(doc, "/api/messages", "post", accepted)
        run_id = accepted.json()["run_id"]
        check(doc, "/api/runs/{run_id}", "get", await client.get(f"/api/runs/{run_id}", params={"wait": 5}))
        check(doc, "/api/runs/{run_id}", "get", await client.get("/api/runs/nope"))
        check(doc, "/api/runs/{run_id}", "get", await client.get(f"/api/runs/{run_id}?wait=soon"))
        check(doc, "/api/sessions/{session}/history", "get", await client.get("/api/sessions/s/history"))
        check(
            doc, "/api/sessions/{session}/history", "get", await client.get("/api/sessions/s/history?limit=x")
        )
        check(doc, "/api/messages", "post", await client.post("/api/messages", content=b"{"))
        check(doc, "/api/messages", "post", await client.post("/api/messages", json={"session": ""}))
        chat = {"messages": [{"role": "user", "content": "hello"}]}
        check(doc, "/v1/chat/completions", "post", await client.post("/v1/chat/completions", json=chat))
        check(doc, "/v1/chat/completions", "post", await client.post("/v1/chat/completions", json=[]))
        router.script.append(TurnFailed("every model failed"))
        check(doc, "/v1/chat/completions", "post", await client.post("/v1/chat/completions", json=chat))
        streamed = await client.post("/v1/chat/completions", json={**chat, "stream": True})
        check(doc, "/v1/chat/completions", "post", streamed)
    async with gateway.client(token="") as anon:
        check(doc, "/status", "get", await anon.get("/status"))
        check(doc, "/v1/models", "get", await anon.get("/v1/models"))
