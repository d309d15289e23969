"""Issue 23: a blip never silences the assistant. The real router and adapters against a fake that
really resets TCP connections (RST), with concurrent and steady traffic."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from tests.models.conftest import Events, ProfilesSource, RouterFactory, turn

from nexus.common.clock import FakeClock
from nexus.common.paths import NexusPaths
from nexus.fakes._server import Error, Hang, Reply, Reset
from nexus.fakes.anthropic_server import FakeAnthropic
from nexus.models.cooldown_store import JsonCooldownStore
from nexus.models.router import Router
from nexus.models.turn import Cooldown, TurnFailed

ONLY = "anthropic/claude-only"


def only_model() -> dict[str, Any]:
    fast = {"first_token_timeout_s": 2.0, "idle_timeout_s": 2.0, "connect_timeout_s": 2.0}
    return {"models": {"primary": ONLY, "fallbacks": []}, "providers": {"anthropic": fast}}


def source() -> ProfilesSource:
    return ProfilesSource({"anthropic": ["anthropic:main"]}, {"anthropic:main": "sk-ant-api03-main"})


def router_on(fa: FakeAnthropic, make_router: RouterFactory, **kw: Any) -> Router:
    return make_router(only_model(), source(), {"ANTHROPIC_BASE_URL": fa.base_url}, **kw)


async def test_a_burst_of_resets_among_successes_leaves_the_only_model_serving(
    fake_anthropic: FakeAnthropic, make_router: RouterFactory
) -> None:
    fa = fake_anthropic
    router = router_on(fa, make_router)
    fa.script("claude-only", *([Reset()] * 18))  # more resets than turns can absorb with one retry each
    events = Events()
    results = await asyncio.gather(
        *(router.run(turn(f"m{i}"), events) for i in range(40)), return_exceptions=True
    )
    answered = [r for r in results if not isinstance(r, BaseException)]
    failed = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(f, TurnFailed) and "connection" in f.summary for f in failed)
    assert len(answered) >= 40 - 9 and fa.count() == 40 + 18  # every reset was retried once
    # however many turns failed together, that was one event: at most the first rung (30 s) ...
    assert all(c.until <= events.of(Cooldown)[0].until + 0.5 for c in events.of(Cooldown))
    assert {c.until - router._clock.time() <= 30.5 for c in events.of(Cooldown)} <= {True}
    # ... and the successes of the same burst cleared it: the next message is answered at once
    assert router.cooldowns() == []
    assert [c.usable for c in router.candidates()] == [True]
    before = fa.count()
    assert (await router.run(turn("after"), Events())).text == "echo: after"
    assert fa.count() == before + 1


async def test_steady_traffic_survives_one_read_error_without_a_strike(
    fake_anthropic: FakeAnthropic, make_router: RouterFactory
) -> None:
    fa = fake_anthropic
    router = router_on(fa, make_router)
    for i in range(30):
        if i == 6:
            fa.script("claude-only", Reset())  # one transient ReadError at the 7th message
        result = await router.run(turn(f"n{i}"), Events())
        assert result.text == f"echo: n{i}" and not result.fell_back
        if i == 6:
            assert [a.outcome for a in result.attempts] == ["retried:connection", "ok"]
    assert fa.count() == 31 and router.cooldowns() == []


async def test_the_last_candidate_is_probed_instead_of_refusing_messages(
    fake_anthropic: FakeAnthropic, make_router: RouterFactory, clock: FakeClock
) -> None:
    fa = fake_anthropic
    router = router_on(fa, make_router)
    fa.script("claude-only", Error(500))
    with pytest.raises(TurnFailed):
        await router.run(turn("first"), Events())
    assert router.cooldowns()[0].kind.value == "server"
    candidate = router.candidates()[0]
    assert (
        not candidate.usable
        and candidate.probed_when_alone
        and "probed by the next message" in (candidate.reason or "")
    )
    # still cooling (30 s), but it is the only candidate: the next message probes it, and wins
    fa.script("claude-only", Reply("back", delay=0.1))
    results = await asyncio.gather(*(router.run(turn(f"c{i}"), Events()) for i in range(5)))
    assert [r.model for r in results] == [ONLY] * 5
    assert fa.count() == 1 + 5  # one probe, then the four that waited for it went straight in
    assert router.cooldowns() == []


async def test_after_a_failed_probe_the_next_waiter_probes_so_a_blip_costs_only_who_met_it(
    fake_anthropic: FakeAnthropic, make_router: RouterFactory
) -> None:
    fa = fake_anthropic
    router = router_on(fa, make_router)
    fa.script("claude-only", Error(500))
    with pytest.raises(TurnFailed):
        await router.run(turn("first"), Events())
    fa.latency = 0.2
    fa.script("claude-only", Error(500))  # the probe meets the tail of the blip; then it is over
    results = await asyncio.gather(
        *(router.run(turn(f"w{i}"), Events()) for i in range(4)), return_exceptions=True
    )
    assert sum(isinstance(r, TurnFailed) for r in results) == 1  # only the probe that met it
    assert fa.count() == 1 + 2 + 2  # the first failure, two probes, two that went straight in
    assert router.cooldowns() == []


async def test_a_down_candidate_costs_each_waiting_message_at_most_one_request(
    fake_anthropic: FakeAnthropic, make_router: RouterFactory
) -> None:
    fa = fake_anthropic
    router = router_on(fa, make_router)
    fa.always("claude-only", Error(500))
    with pytest.raises(TurnFailed):
        await router.run(turn("first"), Events())
    fa.latency = 0.1
    results = await asyncio.gather(
        *(router.run(turn(f"w{i}"), Events()) for i in range(4)), return_exceptions=True
    )
    assert all(isinstance(r, TurnFailed) for r in results)
    assert fa.count() == 1 + 4  # one probe each, one after the other: never a stampede


async def test_waiters_behind_a_hanging_probe_fail_at_once(
    fake_anthropic: FakeAnthropic, make_router: RouterFactory
) -> None:
    fa = fake_anthropic
    cfg = only_model()
    cfg["providers"]["anthropic"]["first_token_timeout_s"] = 0.3
    router = make_router(cfg, source(), {"ANTHROPIC_BASE_URL": fa.base_url})
    fa.script("claude-only", Error(500))
    with pytest.raises(TurnFailed):
        await router.run(turn("first"), Events())
    fa.always("claude-only", Hang(after_chunks=0))
    results = await asyncio.gather(
        *(router.run(turn(f"h{i}"), Events()) for i in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, TurnFailed) for r in results) and fa.count() == 2
    outcomes = sorted(r.attempts[-1].outcome for r in results if isinstance(r, TurnFailed))
    assert outcomes == ["skipped:probe_failed", "skipped:probe_failed", "timeout"]


async def test_a_servers_retry_after_is_honoured_even_for_the_last_candidate(
    fake_anthropic: FakeAnthropic, make_router: RouterFactory, clock: FakeClock
) -> None:
    fa = fake_anthropic
    router = router_on(fa, make_router)
    fa.script("claude-only", Error(429, retry_after=20))
    with pytest.raises(TurnFailed):
        await router.run(turn(), Events())
    with pytest.raises(TurnFailed) as refused:
        await router.run(turn(), Events())
    assert fa.count() == 1 and "soonest retry" in refused.value.summary
    clock.advance(21)
    assert (await router.run(turn("later"), Events())).model == ONLY


async def test_models_reset_in_another_process_reaches_the_running_router(
    fake_anthropic: FakeAnthropic, make_router: RouterFactory, tmp_path: Path
) -> None:
    fa = fake_anthropic
    home = tmp_path / "home"
    gateway = router_on(fa, make_router, home=home)
    fa.script("claude-only", Error(402))  # billing: an hour, never probed by itself
    with pytest.raises(TurnFailed):
        await gateway.run(turn(), Events())
    await gateway.flush()
    with pytest.raises(TurnFailed):
        await gateway.run(turn(), Events())
    assert fa.count() == 1

    cli = router_on(fa, make_router, home=home)  # what `nexus models reset` builds
    assert cli.clear_cooldowns(model=ONLY) == 1
    await cli.flush()
    assert JsonCooldownStore(NexusPaths(home=home).cooldowns).load().cooldowns == {}
    assert (await gateway.run(turn("again"), Events())).text == "echo: again"
    assert fa.count() == 2
