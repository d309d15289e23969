"""No SDK on the hot path (issue 16): a router that answered through both adapters has imported
neither ``anthropic`` nor ``openai``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from nexus.fakes.anthropic_server import FakeAnthropic
from nexus.fakes.openai_server import FakeOpenAI

SCRIPT = """
import asyncio, json, sys
from pathlib import Path
from nexus.common.paths import NexusPaths
from nexus.config import NexusConfig
from nexus.auth import EnvCredentialSource
from nexus.models.factory import build_router
from nexus.models.turn import CallRequest
from nexus.models.types import ChatMessage

env = json.loads(sys.argv[2])
paths = NexusPaths(home=Path(sys.argv[1]))
config = NexusConfig.model_validate(
    {"models": {"primary": "anthropic/claude-x", "fallbacks": ["openai/gpt-x"]}}
)

async def main():
    router = build_router(config, paths, EnvCredentialSource(environ=env), environ=env)
    request = CallRequest("r", (ChatMessage("user", "hi"),))
    first = await router.complete(request, lambda e: None)
    second = await router.complete(CallRequest("r", request.messages, pinned=router.chain[1]), lambda e: None)
    await router.aclose()
    return [first.text, second.text]

texts = asyncio.run(main())
print(json.dumps({"texts": texts, "sdks": sorted(m for m in ("anthropic", "openai", "httpx2") if m in sys.modules)}))
"""


def test_answers_from_both_apis_without_importing_an_sdk(
    tmp_path: Path, fake_anthropic: FakeAnthropic, fake_openai: FakeOpenAI
) -> None:
    env = {
        "ANTHROPIC_API_KEY": "sk-ant-api03-k",
        "OPENAI_API_KEY": "sk-openai-k",
        "ANTHROPIC_BASE_URL": fake_anthropic.base_url,
        "OPENAI_BASE_URL": fake_openai.base_url,
    }
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), json.dumps(env)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"texts": ["echo: hi", "echo: hi"], "sdks": []}
    assert fake_anthropic.count() == 1 and fake_openai.count() == 1
