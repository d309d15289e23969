"""Tool-loop benchmark: what the durable loop costs per tool step, excluding the model and the tool.

    make bench                     # or: .venv/bin/python bench/tools.py [--steps N] [--runs N]

One step = the model asks for one tool, the loop commits the model call, decides, commits the
intent, runs the tool, commits the result and decides again. The overhead of a step is the time
between the model's answer and the next model call, minus the tool's own run time, on a real
``state.db`` (WAL) in a temporary folder, with a no-op tool. Two models:

- in-process: an instant scripted model (the loop alone);
- over the fake provider: the real router and Anthropic adapter against the fake Messages API in its
  own process, streaming ``tool_use`` blocks; the overhead then also counts building the request
  (the block history) around each call, but not the HTTP round trip itself.

Target (issue 13): <= 2 ms per step, p50 and p99.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from nexus.agent import journal as j  # noqa: E402
from nexus.agent.loop import ToolLoop, ToolWorld  # noqa: E402
from nexus.agent.registry import ToolRegistry, ToolSpec  # noqa: E402
from nexus.agent.tool import SideEffect, ToolContext, ToolInput, ToolResult  # noqa: E402
from nexus.agent.tools import builtin_tools  # noqa: E402
from nexus.agent.workspace import Workspace  # noqa: E402
from nexus.common.paths import NexusPaths  # noqa: E402
from nexus.config.schema import AgentConfig, ToolsConfig  # noqa: E402
from nexus.store import RunStore, open_database  # noqa: E402
from nexus.store.approvals import ApprovalStore  # noqa: E402


class NoopInput(ToolInput):
    n: int


class Noop:
    name: ClassVar[str] = "noop"
    description: ClassVar[str] = "does nothing"
    Input: ClassVar[type[ToolInput]] = NoopInput
    side_effect: ClassVar[SideEffect] = SideEffect.NONE

    def __init__(self) -> None:
        self.spent: list[tuple[float, float]] = []

    async def run(self, args: NoopInput, ctx: ToolContext) -> ToolResult:
        wall, cpu = time.perf_counter(), time.thread_time()
        result = ToolResult(f"ok {args.n}")
        self.spent.append((time.perf_counter() - wall, time.thread_time() - cpu))
        return result


def _world(paths: NexusPaths, agent: AgentConfig) -> tuple[RunStore, Noop, ToolWorld]:
    """A real state.db, the built-in tools plus the no-op one, default tool settings."""
    conn = open_database(paths.state_db)
    noop = Noop()
    world = ToolWorld(
        registry=ToolRegistry([*builtin_tools(), noop]),
        workspace=Workspace.for_home(paths),
        tools=ToolsConfig(),
        agent=agent,
        spool_dir=paths.run / "tool-output",
        approvals=ApprovalStore(conn),
    )
    return RunStore(conn), noop, world


class InstantModel:
    """Asks for ``steps`` tool calls (distinct inputs, so the repeat guard stays quiet), then answers."""

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.calls = 0
        self.started: list[tuple[float, float]] = []
        self.ended: list[tuple[float, float]] = []

    async def __call__(self, journal: Sequence[j.Entry], tools: list[ToolSpec]) -> j.ModelCalled:
        self.started.append((time.perf_counter(), time.thread_time()))
        self.calls += 1
        if self.calls > self.steps:
            answer = j.ModelCalled("done", model="bench/instant")
        else:
            call = j.ToolCall(f"call_{self.calls}", "noop", {"n": self.calls})
            answer = j.ModelCalled("", (call,), model="bench/instant", input_tokens=100, output_tokens=20)
        self.ended.append((time.perf_counter(), time.thread_time()))
        return answer


async def bench(steps: int, runs: int) -> tuple[list[float], list[float]]:
    """Per-step overhead samples: (wall seconds, CPU seconds of the loop's thread)."""
    walls: list[float] = []
    cpus: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = NexusPaths(home=Path(tmp))
        paths.ensure()
        store, noop, world = _world(paths, AgentConfig(max_steps=steps + 5))
        loop = ToolLoop(store=store, world=world)
        for _ in range(runs):
            run, _ = store.accept(session="bench", text="go")
            store.claim(run.id)
            model = InstantModel(steps)
            noop.spent.clear()
            end = await loop.run(run.id, model=model, started_at=time.time())
            assert end.text == "done", end
            for i in range(steps):
                walls.append(model.started[i + 1][0] - model.ended[i][0] - noop.spent[i][0])
                cpus.append(model.started[i + 1][1] - model.ended[i][1] - noop.spent[i][1])
        store.close()
    return walls, cpus


class TimedCaller:
    """Wraps a model caller: records when each call starts and returns (wall and thread CPU)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.started: list[tuple[float, float]] = []
        self.ended: list[tuple[float, float]] = []
        self.inside: list[tuple[float, float]] = []

    async def __call__(self, journal: Sequence[j.Entry], tools: list[ToolSpec]) -> j.ModelCalled:
        self.started.append((time.perf_counter(), time.thread_time()))
        answer = await self.inner(journal, tools)
        self.ended.append((time.perf_counter(), time.thread_time()))
        return answer


async def bench_fake_provider(steps: int, runs: int) -> tuple[list[float], list[float]]:
    """The loop over the real router and the fake Anthropic API (in another process)."""
    import httpx

    from bench._fakes import start_fake, stop
    from nexus.auth.source import env_source
    from nexus.config.schema import NexusConfig
    from nexus.gateway.model_caller import RouterCaller
    from nexus.gateway.persona import Persona
    from nexus.models.factory import build_router

    fake, base = start_fake()
    walls: list[float] = []
    cpus: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            paths = NexusPaths(home=Path(tmp))
            paths.ensure()
            environ = {"ANTHROPIC_BASE_URL": base, "ANTHROPIC_API_KEY": "bench-key"}
            config = NexusConfig.model_validate(
                {
                    "models": {"primary": "anthropic/bench", "fallbacks": [], "max_tokens": 64},
                    "agent": {"max_steps": steps + 5},
                }
            )
            router = build_router(config, paths, env_source(config, environ), environ=environ)
            store, noop, world = _world(paths, config.agent)
            loop = ToolLoop(store=store, world=world)
            for r in range(runs + 1):  # the first run warms connections and imports; not counted
                behaviours = [
                    {"kind": "tool_use", "calls": [{"name": "noop", "input": {"n": i}}], "fragments": 2}
                    for i in range(steps)
                ] + [{"kind": "reply", "text": "done", "chunks": 2}]
                async with httpx.AsyncClient(trust_env=False, timeout=10) as control:
                    scripted = await control.post(
                        f"{base.rstrip('/')}/_fake/script", json={"model": "bench", "behaviours": behaviours}
                    )
                    assert scripted.json()["ok"], scripted.text
                run, _ = store.accept(session=f"bench{r}", text="go")
                run = store.claim(run.id)
                caller = TimedCaller(
                    RouterCaller(
                        router=router,
                        store=store,
                        persona=Persona(paths.workspace),
                        config=config,
                        run=run,
                        sink=lambda _event: None,
                    )
                )
                noop.spent.clear()
                end = await loop.run(run.id, model=caller, started_at=time.time())
                assert end.text == "done", end
                if r == 0:
                    continue
                for i in range(steps):
                    walls.append(caller.started[i + 1][0] - caller.ended[i][0] - noop.spent[i][0])
                    cpus.append(caller.started[i + 1][1] - caller.ended[i][1] - noop.spent[i][1])
            await router.aclose()
            store.close()
    finally:
        stop(fake)
    return walls, cpus


def _pcts(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=20, help="tool steps per run (default 20)")
    parser.add_argument("--runs", type=int, default=25, help="runs (default 25)")
    args = parser.parse_args()
    for label, measure in (
        ("in-process model", bench),
        (
            "over the fake provider (real router + Anthropic adapter, fake in its own process)",
            bench_fake_provider,
        ),
    ):
        walls, cpus = asyncio.run(measure(args.steps, args.runs))
        wall50, wall99 = _pcts(walls)
        cpu50, cpu99 = _pcts(cpus)
        print(
            f"tool loop overhead per step, {label}: {len(walls)} steps, {args.steps} per run, real state.db"
        )
        print(f"  wall p50 {wall50:.3f} ms   p99 {wall99:.3f} ms   (target <= 2 ms)")
        print(f"  CPU  p50 {cpu50:.3f} ms   p99 {cpu99:.3f} ms   (wall above CPU is time the OS gave others)")


if __name__ == "__main__":
    main()
