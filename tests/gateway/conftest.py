"""An in-process gateway on a real socket, with a scripted router behind the ``ModelRouter`` seam.

End-to-end tests with the real router and the fake provider servers live in ``test_e2e_*.py``; these
fixtures test the gateway's own contract (HTTP, WebSocket, inbox, lanes) fast.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from nexus.common.paths import NexusPaths
from nexus.config.schema import NexusConfig
from nexus.gateway.assemble import serve
from nexus.gateway.runtime import GatewayRuntime
from nexus.models.turn import (
    AttemptStarted,
    Delta,
    EventSink,
    NoProviderConfigured,
    Turn,
    TurnFailed,
    TurnResult,
)


@dataclass
class Candidate:
    model: str
    profile: str | None
    usable: bool
    reason: str | None = None
    cooling_until: float | None = None


@dataclass
class ScriptedRouter:
    """Answers ``echo: <last user text>`` in three deltas unless a test queues something else."""

    usable: bool = True
    calls: list[Turn] = field(default_factory=list)
    script: deque[Any] = field(default_factory=deque)
    delay: float = 0.0
    gate: asyncio.Event | None = None

    async def complete(self, turn: Turn, sink: EventSink) -> TurnResult:
        self.calls.append(turn)
        sink(AttemptStarted(model="test/echo", profile="test:one"))
        if self.gate is not None:
            await self.gate.wait()
        action = self.script.popleft() if self.script else None
        if isinstance(action, BaseException):
            raise action
        if isinstance(action, TurnResult):  # e.g. an answer with tool calls
            if action.text:
                sink(Delta(action.text))
            return action
        text = action if isinstance(action, str) else f"echo: {turn.messages[-1].content}"
        third = max(len(text) // 3, 1)
        for i in range(0, len(text), third):
            if self.delay:
                await asyncio.sleep(self.delay)
            sink(Delta(text[i : i + third]))
        return TurnResult(text=text, model="test/echo", profile="test:one")

    def candidates(self) -> list[Candidate]:
        if self.usable:
            return [Candidate("test/echo", "test:one", True)]
        return [Candidate("test/echo", None, False, "TEST_API_KEY is not set")]

    async def aclose(self) -> None:
        return None


@dataclass
class RunningGateway:
    base_url: str
    ws_url: str
    token: str
    runtime: GatewayRuntime
    router: ScriptedRouter
    paths: NexusPaths

    def client(self, *, token: str | None = None) -> httpx.AsyncClient:
        auth = token if token is not None else self.token
        headers = {"Authorization": f"Bearer {auth}"} if auth else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=10.0)


async def start_gateway(
    home: Path,
    router: ScriptedRouter,
    config: NexusConfig | None = None,
    *,
    channel_options: dict[str, Any] | None = None,
) -> tuple[RunningGateway, asyncio.Event, asyncio.Task[None]]:
    paths = NexusPaths(home=home)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    ready: asyncio.Future[GatewayRuntime] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(
            config=config or NexusConfig(),
            paths=paths,
            router=router,
            sock=sock,
            environ={},
            handle_signals=False,
            on_ready=ready.set_result,
            stop=stop,
            channel_options=channel_options,
        )
    )
    done, _ = await asyncio.wait({ready, task}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()
    runtime = await asyncio.wait_for(ready, 1)
    token = paths.token_file.read_text().strip()
    gw = RunningGateway(
        base_url=f"http://127.0.0.1:{port}",
        ws_url=f"ws://127.0.0.1:{port}/ws",
        token=token,
        runtime=runtime,
        router=router,
        paths=paths,
    )
    return gw, stop, task


@pytest.fixture
def router() -> ScriptedRouter:
    return ScriptedRouter()


@pytest.fixture
async def gateway(tmp_path: Path, router: ScriptedRouter) -> AsyncIterator[RunningGateway]:
    gw, stop, task = await start_gateway(tmp_path / "home", router)
    try:
        yield gw
    finally:
        if router.gate is not None:
            router.gate.set()
        stop.set()
        await asyncio.wait_for(task, 15)


__all__ = ["NoProviderConfigured", "RunningGateway", "ScriptedRouter", "TurnFailed", "start_gateway"]
