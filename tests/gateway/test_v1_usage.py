"""/v1 ``usage`` is what the answering provider reported, end to end: the real router and adapters
against the fake Anthropic and OpenAI APIs, the gateway on a real socket, the official openai SDK."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
import pytest

from nexus.auth.credentials import EnvCredentialSource
from nexus.common.paths import NexusPaths
from nexus.config.schema import NexusConfig
from nexus.fakes._server import Reply
from nexus.models.factory import build_router
from tests.gateway.conftest import start_gateway

FIVE_WORDS = "one two three four five"


@pytest.mark.parametrize(
    ("provider", "fake_fixture", "key_var", "base_var"),
    [
        ("anthropic", "fake_anthropic", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
        ("openai", "fake_openai", "OPENAI_API_KEY", "OPENAI_BASE_URL"),
    ],
)
async def test_v1_usage_is_the_providers(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    provider: str,
    fake_fixture: str,
    key_var: str,
    base_var: str,
) -> None:
    fake: Any = request.getfixturevalue(fake_fixture)
    model = f"{provider}/m1"
    fake.script("m1", Reply(FIVE_WORDS), Reply(FIVE_WORDS))
    env = {key_var: "test-key", base_var: fake.base_url}
    config = NexusConfig.model_validate({"models": {"primary": model, "fallbacks": []}})
    paths = NexusPaths(home=tmp_path / "home")
    paths.ensure()
    router = build_router(config, paths, EnvCredentialSource(environ=env), environ=env)
    gw, stop, task = await start_gateway(paths.home, router, config)  # type: ignore[arg-type]
    try:
        async with openai.AsyncOpenAI(
            base_url=f"{gw.base_url}/v1", api_key=gw.token, max_retries=0
        ) as client:
            done = await client.chat.completions.create(
                model="nexus", messages=[{"role": "user", "content": "a"}]
            )
            stream = await client.chat.completions.create(
                model="nexus",
                messages=[{"role": "user", "content": "b"}],
                stream=True,
                stream_options={"include_usage": True},
            )
            chunks = [chunk async for chunk in stream]
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
    assert done.choices[0].message.content == FIVE_WORDS
    assert done.usage is not None and done.usage.completion_tokens == 5 and done.usage.prompt_tokens > 0
    assert done.usage.total_tokens == done.usage.prompt_tokens + 5
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.completion_tokens == 5 and last.usage.prompt_tokens > 0
    assert last.usage.total_tokens == last.usage.prompt_tokens + 5
    # the second turn carries the first in its history: the provider counted more input
    assert last.usage.prompt_tokens > done.usage.prompt_tokens
