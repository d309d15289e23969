"""/v1 with client-defined tools, end to end: the official openai SDK against the gateway on a real
socket, with the real router and adapters on the fake Anthropic and OpenAI APIs scripting tool calls.
The model's call comes back as ``tool_calls``; the client's result goes up in its next request."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import openai
import pytest

from nexus.auth.credentials import EnvCredentialSource
from nexus.common.paths import NexusPaths
from nexus.config.schema import NexusConfig
from nexus.fakes._server import FakeToolCall, Reply, ToolUse
from nexus.models.factory import build_router
from tests.gateway.conftest import start_gateway

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
QUESTION = {"role": "user", "content": "weather in Paris?"}


async def ask(client: openai.AsyncOpenAI, messages: list[Any], *, stream: bool) -> tuple[str, str, list[Any]]:
    """(finish_reason, content, tool_calls as dicts) of one completion, streamed or not."""
    if not stream:
        done = await client.chat.completions.create(model="nexus", messages=messages, tools=[WEATHER])
        choice = done.choices[0]
        calls = [c.model_dump(exclude_none=True) for c in choice.message.tool_calls or ()]
        return str(choice.finish_reason), choice.message.content or "", calls
    chunks = [
        c
        async for c in await client.chat.completions.create(
            model="nexus", messages=messages, tools=[WEATHER], stream=True
        )
    ]
    content, finish, calls = "", "", {}
    for chunk in chunks:
        for choice in chunk.choices:
            content += choice.delta.content or ""
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or ():
                call = calls.setdefault(
                    delta.index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
                )
                call["id"] += delta.id or ""
                call["function"]["name"] += delta.function.name or "" if delta.function else ""
                call["function"]["arguments"] += delta.function.arguments or "" if delta.function else ""
    return finish, content, [calls[i] for i in sorted(calls)]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize(
    ("provider", "fake_fixture", "key_var", "base_var"),
    [
        ("anthropic", "fake_anthropic", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
        ("openai", "fake_openai", "OPENAI_API_KEY", "OPENAI_BASE_URL"),
    ],
)
async def test_v1_client_tools_round_trip(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    provider: str,
    fake_fixture: str,
    key_var: str,
    base_var: str,
    stream: bool,
) -> None:
    fake: Any = request.getfixturevalue(fake_fixture)
    fake.script(
        "m1",
        ToolUse(calls=(FakeToolCall("get_weather", {"city": "Paris"}, id="call_w1"),), text="Let me look."),
        Reply("Sunny, 22C in Paris."),
    )
    env = {key_var: "test-key", base_var: fake.base_url}
    config = NexusConfig.model_validate({"models": {"primary": f"{provider}/m1", "fallbacks": []}})
    paths = NexusPaths(home=tmp_path / "home")
    paths.ensure()
    router = build_router(config, paths, EnvCredentialSource(environ=env), environ=env)
    gw, stop, task = await start_gateway(paths.home, router, config)  # type: ignore[arg-type]
    try:
        async with openai.AsyncOpenAI(
            base_url=f"{gw.base_url}/v1", api_key=gw.token, max_retries=0
        ) as client:
            finish, content, calls = await ask(client, [QUESTION], stream=stream)
            assert finish == "tool_calls" and content == "Let me look."
            assert [(c["id"], c["function"]["name"]) for c in calls] == [("call_w1", "get_weather")]
            assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Paris"}
            follow_up = [
                QUESTION,
                {"role": "assistant", "content": content, "tool_calls": calls},
                {"role": "tool", "tool_call_id": "call_w1", "content": "sunny, 22C"},
            ]
            finish, content, calls = await ask(client, follow_up, stream=stream)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
    assert (finish, content, calls) == ("stop", "Sunny, 22C in Paris.", [])
    first, second = fake.requests[-2].body, fake.requests[-1].body
    offered = [t.get("name") or t["function"]["name"] for t in first["tools"]]
    assert offered == ["get_weather"], "only the client's tools are offered, none of Nexus's"
    wire = json.dumps(second["messages"])
    assert "call_w1" in wire and "sunny, 22C" in wire, (
        "the tool result reached the model paired with its call"
    )
