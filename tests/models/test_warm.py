"""SDK warm-up: only providers that can serve are loaded, and in a worker thread."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import asyncio, json, sys
from pathlib import Path
from nexus.common.paths import NexusPaths
from nexus.config import NexusConfig
from nexus.auth import EnvCredentialSource
from nexus.models.factory import build_router

env = json.loads(sys.argv[2])
paths = NexusPaths(home=Path(sys.argv[1]))
router = build_router(NexusConfig(), paths, EnvCredentialSource(environ=env), environ=env)
asyncio.run(router.warm())
print(json.dumps({"anthropic": "anthropic" in sys.modules, "openai": "openai" in sys.modules}))
"""


def warm_in_child(home: Path, env: dict[str, str]) -> dict[str, bool]:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(home), json.dumps(env)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_nothing_configured_loads_no_sdk(tmp_path: Path) -> None:
    assert warm_in_child(tmp_path, {}) == {"anthropic": False, "openai": False}


def test_a_usable_provider_gets_its_sdk_and_only_its_own(tmp_path: Path) -> None:
    assert warm_in_child(tmp_path, {"ANTHROPIC_API_KEY": "k"}) == {"anthropic": True, "openai": False}
