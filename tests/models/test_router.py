"""The router against the fake servers: real SDKs, real sockets; requests counted at the fake."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.models.conftest import Events, ProfilesSource, RouterFactory, turn

from nexus.auth.credentials import CredentialKind, EnvCredentialSource
from nexus.common.clock import FakeClock
from nexus.config.schema import ModelRef
from nexus.fakes._server import Disconnect, Error, FakeToolCall, Hang, MidStreamError, Reply, ToolUse
from nexus.fakes.anthropic_server import FakeAnthropic
from nexus.fakes.openai_server import FakeOpenAI
from nexus.models.router import Router
from nexus.models.turn import (
    AttemptStarted,
    CallRequest,
    Cooldown,
    Delta,
    Fallback,
    NoProviderConfigured,
    Refreshing,
    TurnFailed,
)
from nexus.models.types import ChatMessage, ToolCall, ToolResultBlock, ToolSpec

PRIMARY = "anthropic/claude-opus"
SECOND = "anthropic/claude-sonnet"
THIRD = "openai/gpt-small"


def config(*, primary: str = PRIMARY, fallbacks: list[str] | None = None, **models: Any) -> dict[str, Any]:
    fast = {"first_token_timeout_s": 2.0, "idle_timeout_s": 2.0, "connect_timeout_s": 2.0}
    return {
        "models": {
            "primary": primary,
            "fallbacks": [SECOND, THIRD] if fallbacks is None else fallbacks,
            **models,
        },
        "providers": {"anthropic": dict(fast), "openai": dict(fast)},
    }


def env(fa: FakeAnthropic, fo: FakeOpenAI) -> dict[str, str]:
    return {"ANTHROPIC_BASE_URL": fa.base_url, "OPENAI_BASE_URL": fo.base_url}


def one_profile_each() -> ProfilesSource:
    return ProfilesSource(
        {"anthropic": ["anthropic:main"], "openai": ["openai:main"]},
        {"anthropic:main": "sk-ant-api03-main", "openai:main": "sk-openai-main"},
    )


@pytest.fixture
def fakes(fake_anthropic: FakeAnthropic, fake_openai: FakeOpenAI) -> tuple[FakeAnthropic, FakeOpenAI]:
    return fake_anthropic, fake_openai


async def test_happy_path_streams_deltas_and_sends_the_api_key(
    fakes: tuple[FakeAnthropic, FakeOpenAI], make_router: RouterFactory
) -> None:
    fa, fo = fakes
    fa.script("claude-opus", Reply("one two three", chunks=3))
    router = make_router(config(), one_profile_each(), env(fa, fo))
    events = Events()
    result = await router.run(turn("hi", system="be brief"), events)
    assert result.text == "one two three"
    assert (result.model, result.profile, result.fell_back) == (PRIMARY, "anthropic:main", False)
    assert [e.text for e in events.of(Delta)] == ["one t", "wo t", "hree"]
    assert events.of(AttemptStarted) == [AttemptStarted(PRIMARY, "anthropic:main")]
    sent = fa.requests[0]
    assert sent.headers["x-api-key"] == "sk-ant-api03-main" and "authorization" not in sent.headers
    assert sent.body["system"] == "be brief" and sent.body["stream"] is True
    assert [a.outcome for a in result.attempts] == ["ok"]


async def test_429_falls_back_and_the_primary_is_not_asked_again_during_its_cooldown(
    fakes: tuple[FakeAnthropic, FakeOpenAI], make_router: RouterFactory, clock: FakeClock
) -> None:
    fa, fo = fakes
    fa.script("claude-opus", Error(429, retry_after=30))
    router = make_router(config(), one_profile_each(), env(fa, fo))
    events = Events()
    started = time.perf_counter()
    result = await router.run(turn("hi"), events)
    assert time.perf_counter() - started < 1.0
    assert (result.model, result.text, result.fell_back) == (SECOND, "echo: hi", True)
    cooldowns = events.of(Cooldown)
    assert [(c.model, c.reason) for c in cooldowns] == [(PRIMARY, "rate_limit")]
    assert cooldowns[0].until == pytest.approx(clock.time() + 30)
    fallback = events.of(Fallback)
    assert [(f.from_model, f.to_model, f.reason, f.after_tokens) for f in fallback] == [
        (PRIMARY, SECOND, "rate_limit", False)
    ]

    for _ in range(3):  # within the cooldown: skipped without a request
        again = await router.run(turn("again"), Events())
        assert again.model == SECOND
    assert fa.count("claude-opus") == 1 and fa.count("claude-sonnet") == 4

    clock.advance(31)  # cooldown over: the next real request is the probe, and it succeeds
    probe = await router.run(turn("later"), Events())
    assert probe.model == PRIMARY and fa.count("claude-opus") == 2
    assert router.cooldowns() == []


async def test_retry_after_survives_a_restart(
    fakes: tuple[FakeAnthropic, FakeOpenAI], make_router: RouterFactory, clock: FakeClock, tmp_path: Path
) -> None:
    fa, fo = fakes
    fa.script("claude-opus", Error(429, retry_after=5))
    first = make_router(config(), one_profile_each(), env(fa, fo))
    assert (await first.run(turn(), Events())).model == SECOND
    await first.flush()
    stored = json.loads((tmp_path / "home" / "run" / "cooldowns.json").read_text())
    assert stored["cooldowns"][0]["kind"] == "rate_limit"
    assert (tmp_path / "home" / "run" / "cooldowns.json").stat().st_mode & 0o777 == 0o600

    restarted = make_router(config(), one_profile_each(), env(fa, fo))
    assert (await restarted.run(turn(), Events())).model == SECOND
    assert fa.count("claude-opus") == 1  # the new process did not hammer the primary
    clock.advance(5.1)
    assert (await restarted.run(turn(), Events())).model == PRIMARY


async def test_529_before_first_token_falls_over_invisibly(
    fakes: tuple[FakeAnthropic, FakeOpenAI], make_router: RouterFactory
) -> None:
    fa, fo = fakes
    fa.script("claude-opus", Error(529))
    router = make_router(config(), one_profile_each(), env(fa, fo))
    events = Events()
    result = await router.run(turn("x"), events)
    assert result.model == SECOND and result.text == "echo: x"
    assert [f.after_tokens for f in events.of(Fallback)] == [False]
    assert "".join(d.text for d in events.of(Delta)) == "echo: x"  # nothing of the failed attempt


async def test_overload_after_first_tokens_continues_on_the_fallback_and_says_so(
    fakes: tuple[FakeAnthropic, FakeOpenAI], make_router: RouterFactory
) -> None:
    fa, fo = fakes
    fa.script("claude-opus", MidStreamError(after_chunks=2, error_type="overloaded_error"))
    fa.script("claude-sonnet", Reply("the full fallback answer", chunks=2))
    router = make_router(config(), one_profile_each(), env(fa, fo))
    events = Events()
    result = await router.run(turn("x"), events)
    assert result.text == "the full fallback answer" and result.fell_back and result.model == SECOND
    fallback = events.of(Fallback)
    assert len(fallback) == 1 and fallback[0].after_tokens and fallback[0].reason == "overloaded"
    order = [type(e).__name__ for e in events]
    assert order.index("Fallback") > order.index("Delta")  # tokens were shown before the fallback
    assert result.attempts[0].outcome == "overloaded"


async def test_401_forces_one_refresh_then_retries_with_the_fresh_token(
    fakes: tuple[FakeAnthropic, FakeOpenAI], make_router: RouterFactory
) -> None:
    fa, fo = fakes
    creds = ProfilesSource(
        {"anthropic": ["anthropic:oauth", "anthropic:backup"]},
        {"anthropic:oauth": "sk-ant-oat01-stale", "anthropic:backup": "sk-ant-api03-b"},
        kinds={"anthropic:oauth": CredentialKind.BEARER},
        refreshed={"anthropic:oauth": "sk-ant-oat01-fresh"},
    )
    fa.accept_token = lambda h: h.get("authorization") != "Bearer sk-ant-oat01-stale"
    router = make_router(config(fallbacks=[]), creds, env(fa, fo))
    events = Events()
    result = await router.run(turn(), events)
    assert (result.model, result.profile) == (PRIMARY, "anthropic:oauth")
    assert creds.unauthorized_calls == ["anthropic:oauth"]
    assert events.of(Refreshing) == [Refreshing("anthropic:oauth")]
    sent = [r.headers.get("authorization") for r in fa.requests]
    assert sent == ["Bearer sk-ant-oat01-stale", "Bearer sk-ant-oat01-fresh"]
    assert all(r.headers.get("anthropic-beta") == "oauth-2025-04-20" for r in fa.requests)


async def test_401_without_a_better_credential_moves_to_the_next_profile(
    fakes: tuple[FakeAnthropic, FakeOpenAI], make_router: RouterFactory
) -> None:
    fa, fo = fakes
    creds = ProfilesSource(
        {"anthropic": ["anthropic:a", "anthropic:b"]},
        {"anthropic:a": "sk-ant-api03-dead", "anthropic:b": "sk-ant-api03-live"},
    )
    fa.accept_token = lambda h: h.get("x-api-key") == "sk-ant-api03-live"
    router = make_router(config(fallbacks=[]), creds, env(fa, fo))
    events = Events()
    result = await router.run(turn(), events)
    assert (result.model, result.profile) == (PRIMARY, "anthropic:b")
    assert creds.unauthorized_calls == ["anthropic:a"]  # exactly one forced refresh
    assert fa.count() == 2
    rotation = events.of(Fallback)[0]
    assert (rotation.from_profile, rotation.to_profile, rotation.reason) == (
        "anthropic:a",
        "anthropic:b",
        "auth",
    )
    # the dead profile now cools profile-wide: the next turn goes straight to b
    await router.run(turn(), Events())
    assert fa.count() == 3 and fa.requests[-1].headers["x-api-key"] == "sk-ant-api03-live"


async def test_spend_cap_429_is_billing_and_cools_the_whole_profile(
    fakes: tuple[FakeAnthropic, FakeOpenAI], make_router: RouterFactory, clock: FakeClock
) -> None:
    fa, fo = fakes
    fa.script("claude-opus", Error.spend_cap())
    router = make_router(config(), one_profile_each(), env(fa, fo))
    events = Events()
    result = await router.run(turn(), events)
    assert result.model == THIRD  # sonnet shares the capped profile: skipped without a request
    assert fa.count() == 1 and fo.count() == 1
    cooldown = events.of(Cooldown)[0]
    assert cooldown.reason == "billing" and cooldown.until - clock.time() >= 3600
    assert [a.outcome for a in result.attempts] == ["billing", "skipped:cooling:billing", "ok"]


async def test_404_model_is_skipped(
    fakes: tuple[FakeAnthropic, FakeOpenAI], make_router: RouterFactory
) -> None:
    fa, fo = fakes
    fa.known_models = {"claude-sonnet"}
    router = make_router(config(), one_profile_each(), env(fa, fo))
    result = await router.run(turn(), Events())
    assert result.model == SECOND and result.attempts[0].outcome == "model_not_found"
    await router.run(turn(), Events())
    assert fa.count("claude-opus") == 1


async def test_prompt_too_long_is_never_retried_blindly(
    fakes: tuple[FakeAnthropic, FakeOpenAI], make_router: RouterFactory
) -> None:
    fa, fo = fakes
    fa.always(None, Error.prompt_too_long())
    creds = ProfilesSource(
        {"anthropic": ["anthropic:a", "anthropic:b"], "openai": ["openai:main"]},
        {"anthropic:a": "sk-ant-api03-a", "anthropic:b": "sk-ant-api03-b", "openai:main": "sk-o"},
    )
    router = make_router(config(), creds, env(fa, fo))
    started = time.perf_counter()
    with pytest.raises(TurnFailed) as failed:
        await router.run(turn("x" * 1000), Events())
    assert time.perf_counter() - started < 1.0
    assert fa.count() == 1 and fo.count() == 0  # no other profile, no smaller-or-unknown model
    assert "too long" in failed.value.summary


async def test_prompt_too_long_moves_to_a_larger_context_candidate(
    fakes: tuple[FakeAnthropic, FakeOpenAI], make_router: RouterFactory
) -> None:
    fa, fo = fakes
    fa.always(None, Error.prompt_too_long())
    cfg = config()
    cfg["providers"]["anthropic"]["context_window"] = 200_000
    cfg["providers"]["openai"]["context_window"] = 1_000_000
    router = make_router(cfg, one_profile_each(), env(fa, fo))
    result = await router.run(turn(), Events())
    assert result.model == THIRD and fa.count() == 1


async def test_bad_request_is_terminal(
    fakes: tuple[FakeAnthropic, FakeOpenAI], make_router: RouterFactory
) -> None:
    fa, fo = fakes
    fa.script("claude-opus", Error(400, message="messages.0.content: Input should be a valid list"))
    router = make_router(config(), one_profile_each(), env(fa, fo))
    with pytest.raises(TurnFailed) as failed:
        await router.run(turn(), Events())
    assert fa.count() == 1 and fo.count() == 0
    assert "bad_request" in failed.value.summary and failed.value.soonest_retry is None


async def test_all_candidates_down_answers_at_once_with_reasons_and_the_soonest_retry(
    fakes: tuple[FakeAnthropic, FakeOpenAI], make_router: RouterFactory, clock: FakeClock
) -> None:
    fa, fo = fakes
    fa.script("claude-opus", Error(429, retry_after=20))
    fa.script("claude-sonnet", Error(529, retry_after=30))
    fo.script("gpt-small", Error(429, retry_after=7))
    router = make_router(config(), one_profile_each(), env(fa, fo))
    with pytest.raises(TurnFailed) as first:
        await router.run(turn(), Events())
    assert first.value.soonest_retry == pytest.approx(clock.time() + 7)
    lines = first.value.summary.splitlines()
    assert any("claude-opus" in line and "rate_limit" in line and "429" in line for line in lines)
    assert any("gpt-small" in line and "rate_limit" in line for line in lines)
    assert "soonest retry" in lines[-1] and "(in 7s)" in lines[-1]

    started = time.perf_counter()
    with pytest.raises(TurnFailed) as second:  # all cooling on the servers' word: no request, no sleep
        await router.run(turn(), Events())
    assert time.perf_counter() - started < 0.05
    assert fa.count() + fo.count() == 3
    assert all(a.outcome.startswith("skipped:cooling") for a in second.value.attempts)


async def test_hanging_provider_times_out_on_first_token_then_falls_back(
    fakes: tuple[FakeAnthropic, FakeOpenAI], make_router: RouterFactory
) -> None:
    fa, fo = fakes
    cfg = config()
    cfg["providers"]["anthropic"]["first_token_timeout_s"] = 0.3
    fa.script("claude-opus", Hang(after_chunks=0))
    router = make_router(cfg, one_profile_each(), env(fa, fo))
    started = time.perf_counter()
    result = await router.run(turn(), Events())
    elapsed = time.perf_counter() - started
    assert result.model == SECOND and result.attempts[0].outcome == "timeout"
    assert 0.3 <= elapsed < 1.5
    assert "first token" in result.attempts[0].detail


async def test_turn_deadline_bounds_the_whole_turn(
    fakes: tuple[FakeAnthropic, FakeOpenAI], make_router: RouterFactory
) -> None:
    fa, fo = fakes
    fa.always(None, Hang())
    fo.always(None, Hang())
    router = make_router(config(turn_timeout_s=0.4), one_profile_each(), env(fa, fo), real_clock=True)
    started = time.perf_counter()
    with pytest.raises(TurnFailed) as failed:
        await router.run(turn(), Events())
    assert time.perf_counter() - started < 1.5
    outcomes = [a.outcome for a in failed.value.attempts]
    assert outcomes[0] == "timeout" and "skipped:turn_deadline" in outcomes
    assert fa.count() + fo.count() == 1


async def test_attempt_cap(fakes: tuple[FakeAnthropic, FakeOpenAI], make_router: RouterFactory) -> None:
    fa, fo = fakes
    fa.always(None, Error(500))
    router = make_router(config(max_attempts=1), one_profile_each(), env(fa, fo))
    with pytest.raises(TurnFailed) as failed:
        await router.run(turn(), Events())
    assert fa.count() + fo.count() == 1
    assert [a.outcome for a in failed.value.attempts] == ["server", "skipped:attempt_cap"]


async def test_no_credential_anywhere_is_no_provider_configured(
    fakes: tuple[FakeAnthropic, FakeOpenAI], make_router: RouterFactory
) -> None:
    fa, fo = fakes
    router = make_router(config(), EnvCredentialSource(environ={}), env(fa, fo))
    with pytest.raises(NoProviderConfigured) as err:
        await router.run(turn(), Events())
    assert "ANTHROPIC_API_KEY is not set" in str(err.value)
    assert fa.count() + fo.count() == 0
    assert [c.usable for c in router.candidates()] == [False, False, False]


async def test_pinned_model_is_strict(
    fakes: tuple[FakeAnthropic, FakeOpenAI], make_router: RouterFactory
) -> None:
    fa, fo = fakes
    fa.script("claude-sonnet", Error(529))
    router = make_router(config(), one_profile_each(), env(fa, fo))
    with pytest.raises(TurnFailed) as failed:
        await router.run(turn(pinned=ModelRef.parse(SECOND)), Events())
    assert "pinned" in failed.value.summary and fo.count() == 0 and fa.count("claude-opus") == 0
    # pinning any known provider works, even one outside the chain
    elsewhere = await router.run(turn(pinned=ModelRef.parse("openai/gpt-big")), Events())
    assert (elsewhere.model, elsewhere.fell_back) == ("openai/gpt-big", False)
    with pytest.raises(NoProviderConfigured):  # a provider Nexus does not know has no credential either
        await router.run(turn(pinned=ModelRef.parse("mystery/m")), Events())


async def test_revoked_credential_is_reported_and_cools_until_the_credential_changes(
    fakes: tuple[FakeAnthropic, FakeOpenAI], make_router: RouterFactory
) -> None:
    fa, fo = fakes
    fa.script(None, Error(401, message="OAuth token has been revoked"))
    creds = one_profile_each()
    router = make_router(config(), creds, env(fa, fo))
    events = Events()
    result = await router.run(turn(), events)
    assert result.model == THIRD
    assert creds.revoked_calls and creds.revoked_calls[0][0] == "anthropic:main"
    assert creds.unauthorized_calls == []  # a revoked credential is not refreshed in a loop
    assert events.of(Cooldown)[0].permanent
    # a human logs in again: the profile holds a new credential and serves again
    creds.unusable.clear()
    creds.secrets["anthropic:main"] = "sk-ant-api03-new"
    assert (await router.run(turn(), Events())).model == PRIMARY


async def test_one_probe_at_a_time_after_a_cooldown(
    fakes: tuple[FakeAnthropic, FakeOpenAI], make_router: RouterFactory, clock: FakeClock
) -> None:
    fa, fo = fakes
    fa.script("claude-opus", Error(429, retry_after=1), Reply("slow probe", chunks=2, delay=0.15))
    router = make_router(config(), one_profile_each(), env(fa, fo))
    await router.run(turn(), Events())
    clock.advance(2)
    results = await asyncio.gather(*(router.run(turn(), Events()) for _ in range(3)))
    assert sorted(r.model for r in results) == [PRIMARY, SECOND, SECOND]
    assert fa.count("claude-opus") == 2  # the 429, then exactly one probe


async def test_openai_compatible_fallback_and_candidates_view(
    fakes: tuple[FakeAnthropic, FakeOpenAI], make_router: RouterFactory
) -> None:
    fa, fo = fakes
    fa.always(None, Error(529))
    router = make_router(config(), one_profile_each(), env(fa, fo))
    result = await router.run(turn("yo"), Events())
    assert (result.model, result.text) == (THIRD, "echo: yo")
    assert fo.requests[0].headers["authorization"] == "Bearer sk-openai-main"
    view = {c.model: c for c in router.candidates()}
    assert not view[PRIMARY].usable and view[PRIMARY].cooling_until is not None
    assert "overloaded" in (view[PRIMARY].reason or "")
    assert view[THIRD].usable and view[THIRD].last_outcome == "ok"


async def test_probe_reports_each_candidate(
    fakes: tuple[FakeAnthropic, FakeOpenAI], make_router: RouterFactory
) -> None:
    fa, fo = fakes
    fa.script("claude-sonnet", Error(401))
    creds = one_profile_each()
    creds.unusable["openai:main"] = "token expired: run `nexus auth login openai`"
    router: Router = make_router(config(), creds, env(fa, fo))
    results = {r.model: r for r in await router.probe()}
    assert results[PRIMARY].ok and results[PRIMARY].outcome == "ok"
    assert not results[SECOND].ok and results[SECOND].outcome == "auth"
    assert not results[THIRD].ok and results[THIRD].outcome == "unusable" and fo.count() == 0
    assert fa.requests[0].body["max_tokens"] == 1
    assert router.cooldowns() == []  # probing changes nothing


async def test_idle_stream_and_cut_connection_fall_over_after_tokens(
    fakes: tuple[FakeAnthropic, FakeOpenAI], make_router: RouterFactory
) -> None:
    fa, fo = fakes
    cfg = config()
    cfg["providers"]["anthropic"]["idle_timeout_s"] = 0.3
    fa.script("claude-opus", Hang(after_chunks=2))
    fa.script("claude-sonnet", Disconnect(after_chunks=1))
    router = make_router(cfg, one_profile_each(), env(fa, fo))
    events = Events()
    result = await router.run(turn("z"), events)
    assert [a.outcome for a in result.attempts] == ["timeout", "connection", "ok"]
    assert "idle" in result.attempts[0].detail
    assert [f.after_tokens for f in events.of(Fallback)] == [True, True]
    assert (result.model, result.text) == (THIRD, "echo: z")


async def test_openai_error_event_mid_stream_falls_back(
    fakes: tuple[FakeAnthropic, FakeOpenAI], make_router: RouterFactory
) -> None:
    fa, fo = fakes
    fo.script("gpt-small", MidStreamError(after_chunks=1, error_type="server_error", message="upstream died"))
    router = make_router(config(primary=THIRD, fallbacks=[SECOND]), one_profile_each(), env(fa, fo))
    events = Events()
    result = await router.run(turn("q"), events)
    assert result.model == SECOND and result.attempts[0].outcome == "server"
    assert result.attempts[0].detail == "upstream died" and events.of(Fallback)[0].after_tokens


async def test_the_later_of_a_profile_and_a_model_cooldown_governs(
    fakes: tuple[FakeAnthropic, FakeOpenAI], make_router: RouterFactory, clock: FakeClock
) -> None:
    fa, fo = fakes
    fa.script("claude-opus", Error(429, retry_after=7200))  # opus cools 2 h (per model)
    fa.script("claude-sonnet", Error.spend_cap())  # the whole profile cools 1 h
    router = make_router(config(), one_profile_each(), env(fa, fo))
    assert (await router.run(turn(), Events())).model == THIRD
    clock.advance(3601)  # the profile-wide cooldown is over, opus's is not
    result = await router.run(turn(), Events())
    assert result.model == SECOND and result.attempts[0].outcome == "skipped:cooling:rate_limit"
    assert fa.count("claude-opus") == 1


async def test_complete_returns_tool_calls_and_a_fallback_after_a_tool_ran_continues_the_turn(
    fakes: tuple[FakeAnthropic, FakeOpenAI], make_router: RouterFactory
) -> None:
    fa, fo = fakes
    router = make_router(config(fallbacks=[THIRD]), one_profile_each(), env(fa, fo))
    tools = (
        ToolSpec("lookup", "Look a word up", {"type": "object", "properties": {"q": {"type": "string"}}}),
    )
    fa.script(
        "claude-opus", ToolUse((FakeToolCall("lookup", {"q": "nexus"}, id="toolu_9"),), text="Checking.")
    )
    events = Events()
    request = CallRequest("r1", (ChatMessage("user", "what is a nexus?"),), tools=tools)
    first = await router.complete(request, events)
    assert first.tool_calls == (ToolCall("toolu_9", "lookup", {"q": "nexus"}),)
    assert (first.text, first.stop_reason, first.model) == ("Checking.", "tool_use", PRIMARY)
    assert first.usage.input_tokens > 0 and events.of(ToolCall) == list(first.tool_calls)

    # the caller ran the tool; the primary is now overloaded: the fallback continues from the blocks
    fa.script("claude-opus", Error(529))
    result = ChatMessage("user", (ToolResultBlock("toolu_9", "a connection point"),))
    second = await router.complete(
        replace(request, messages=(*request.messages, first.message, result)), Events()
    )
    assert (second.model, second.text, second.fell_back) == (THIRD, "echo: a connection point", True)
    sent = fo.requests[-1].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[1]["tool_calls"][0]["id"] == "toolu_9" and sent[2]["tool_call_id"] == "toolu_9"
    assert second.stop_reason == "stop" and second.tool_calls == ()
