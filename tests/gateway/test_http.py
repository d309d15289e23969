"""The gateway's HTTP contract on a real socket: probes, token, messages, runs, long polls."""

from __future__ import annotations

import asyncio

import httpx

from nexus.models.turn import NoProviderConfigured, TurnFailed
from tests.gateway.conftest import RunningGateway, ScriptedRouter


async def test_probes_need_no_token_and_status_does(gateway: RunningGateway) -> None:
    async with gateway.client(token="") as anon:
        assert (await anon.get("/healthz")).json() == {"ok": True}
        assert (await anon.get("/readyz")).status_code == 200
        denied = await anon.get("/status")
        assert denied.status_code == 401
        assert "nexus token" in denied.json()["error"]["message"]
    async with gateway.client(token="wrong-token") as wrong:
        assert (await wrong.get("/status")).status_code == 401
        assert (await wrong.post("/api/messages", json={"session": "s", "text": "x"})).status_code == 401
    async with gateway.client() as good:
        status = await good.get("/status")
        assert status.status_code == 200
        body = status.json()
        assert body["pid"] > 0 and body["ready"] is True
        assert body["model_chain"][0] == "anthropic/claude-opus-4-5"
        assert gateway.token not in status.text


async def test_readyz_is_503_with_reasons_when_no_candidate_is_usable(
    gateway: RunningGateway, router: ScriptedRouter
) -> None:
    router.usable = False
    async with gateway.client(token="") as anon:
        response = await anon.get("/readyz")
    assert response.status_code == 503
    reasons = " ".join(response.json()["reasons"])
    assert "TEST_API_KEY is not set" in reasons
    assert "nexus auth add-key" in reasons


async def test_message_in_answer_out_with_long_poll(gateway: RunningGateway) -> None:
    async with gateway.client() as client:
        accepted = await client.post("/api/messages", json={"session": "s1", "text": "hello"})
        assert accepted.status_code == 202
        run_id = accepted.json()["run_id"]
        run = (await client.get(f"/api/runs/{run_id}", params={"wait": 5})).json()
    assert run["status"] == "done"
    assert run["text"] == "echo: hello"
    assert run["model"] == "test/echo"


async def test_repeated_idempotency_key_gives_the_same_run_and_one_answer(
    gateway: RunningGateway, router: ScriptedRouter
) -> None:
    body = {"session": "s1", "text": "once", "idempotency_key": "k-1"}
    async with gateway.client() as client:
        first = (await client.post("/api/messages", json=body)).json()
        second = (await client.post("/api/messages", json=body)).json()
        assert first["run_id"] == second["run_id"]
        assert first["created"] is True and second["created"] is False
        await client.get(f"/api/runs/{first['run_id']}", params={"wait": 5})
        third = (await client.post("/api/messages", json=body)).json()
    assert third["run_id"] == first["run_id"]
    assert len(router.calls) == 1


async def test_bad_bodies_name_the_problem(gateway: RunningGateway) -> None:
    async with gateway.client() as client:
        not_json = await client.post("/api/messages", content=b"{nope")
        missing = await client.post("/api/messages", json={"session": "s"})
        bad_wait = await client.get("/api/runs/whatever", params={"wait": "soon"})
        unknown = await client.get("/api/runs/run_doesnotexist")
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["error"]["message"]
    assert missing.status_code == 400 and "text" in missing.json()["error"]["message"]
    assert bad_wait.status_code == 400 and "wait" in bad_wait.json()["error"]["message"]
    assert unknown.status_code == 404


async def test_a_session_is_answered_in_order_with_its_history(
    gateway: RunningGateway, router: ScriptedRouter
) -> None:
    router.delay = 0.002
    async with gateway.client() as client:
        ids = [
            (await client.post("/api/messages", json={"session": "ordered", "text": f"m{i}"})).json()[
                "run_id"
            ]
            for i in range(5)
        ]
        for run_id in ids:
            assert (await client.get(f"/api/runs/{run_id}", params={"wait": 5})).json()["status"] == "done"
    texts = [turn.messages[-1].content for turn in router.calls]
    assert texts == ["m0", "m1", "m2", "m3", "m4"]
    # the last call saw the four earlier exchanges as history
    assert [m.content for m in router.calls[-1].messages[:2]] == ["m0", "echo: m0"]


async def test_failures_end_the_run_and_never_block_the_lane(
    gateway: RunningGateway, router: ScriptedRouter
) -> None:
    router.script.extend(
        [TurnFailed("all candidates failed:\n  test/echo: rate_limit"), RuntimeError("boom")]
    )
    async with gateway.client() as client:
        ids = [
            (await client.post("/api/messages", json={"session": "s", "text": t})).json()["run_id"]
            for t in ("a", "b", "c")
        ]
        runs = [(await client.get(f"/api/runs/{i}", params={"wait": 5})).json() for i in ids]
    assert [r["status"] for r in runs] == ["failed", "failed", "done"]
    assert "rate_limit" in runs[0]["error"]
    assert "RuntimeError: boom" in runs[1]["error"]
    assert runs[2]["text"] == "echo: c"


async def test_no_provider_configured_is_answered_by_the_gateway_itself(
    gateway: RunningGateway, router: ScriptedRouter
) -> None:
    router.script.append(NoProviderConfigured("no credentials"))
    async with gateway.client() as client:
        run_id = (await client.post("/api/messages", json={"session": "s", "text": "hi"})).json()["run_id"]
        run = (await client.get(f"/api/runs/{run_id}", params={"wait": 5})).json()
    assert run["status"] == "done"
    assert run["model"] == "nexus"
    assert "nexus auth add-key anthropic" in run["text"]


async def test_long_poll_returns_when_time_is_up(gateway: RunningGateway, router: ScriptedRouter) -> None:
    router.gate = asyncio.Event()
    async with gateway.client() as client:
        run_id = (await client.post("/api/messages", json={"session": "s", "text": "slow"})).json()["run_id"]
        loop = asyncio.get_running_loop()
        started = loop.time()
        pending = (await client.get(f"/api/runs/{run_id}", params={"wait": 0.3})).json()
        waited = loop.time() - started
        assert pending["status"] == "running"
        assert 0.25 <= waited < 3
        router.gate.set()
        done = (await client.get(f"/api/runs/{run_id}", params={"wait": 5})).json()
    assert done["status"] == "done"


async def test_openai_compatible_endpoint_with_the_openai_sdk(gateway: RunningGateway) -> None:
    import openai

    client = openai.AsyncOpenAI(base_url=f"{gateway.base_url}/v1", api_key=gateway.token, max_retries=0)
    try:
        completion = await client.chat.completions.create(
            model="nexus", messages=[{"role": "user", "content": "plain"}], user="oa"
        )
        assert completion.choices[0].message.content == "echo: plain"
        stream = await client.chat.completions.create(
            model="nexus", messages=[{"role": "user", "content": "streamed"}], user="oa", stream=True
        )
        pieces = [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
        assert "".join(pieces) == "echo: streamed"
        assert len([p for p in pieces if p]) >= 2  # really streamed, not one blob
    finally:
        await client.close()


async def test_openai_endpoint_refuses_a_missing_token(gateway: RunningGateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.base_url) as client:
        response = await client.post(
            "/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]}
        )
    assert response.status_code == 401
