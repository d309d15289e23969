"""Slack through a real in-process gateway, the real slack-sdk Socket Mode client and the fake Slack."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from nexus.fakes.slack_server import BOT_USER_ID, Failure, FakeSlack
from tests.channels.conftest import until
from tests.channels.slack_support import OWNER, STRANGER, GatewayFactory, dm, new_tokens, slack_gateways
from tests.gateway.conftest import ScriptedRouter


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    app, bot = new_tokens()
    with FakeSlack(app, bot, redeliver_after_s=0.5) as fake:
        yield fake


@pytest.fixture
async def slack_gateway(
    tmp_path: Path, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[GatewayFactory]:
    monkeypatch.setenv("NEXUS_LOCK_DIR", str(tmp_path / "locks"))  # poller locks (and cursors) per test
    async with slack_gateways(tmp_path, fake_slack) as start:
        yield start


def answers(fake: FakeSlack, channel: str, text: str) -> list[object]:
    return [m for m in fake.sent(channel) if m.text == text]


async def test_a_dm_is_answered_by_streaming_one_message_and_acked_after_commit(
    slack_gateway: GatewayFactory, fake_slack: FakeSlack
) -> None:
    router = ScriptedRouter(delay=0.1)
    gw = await slack_gateway(router=router)
    await until(lambda: gw.runtime.channels.state("slack") == "connected", what="connected")
    event_id = fake_slack.push_message(user=OWNER, text="hello there")
    await until(lambda: answers(fake_slack, dm(OWNER), "echo: hello there"), what="answer")
    assert len(fake_slack.sent(dm(OWNER))) == 1, "the answer edits the streamed message instead of adding one"
    assert fake_slack.sent(dm(OWNER))[0].edits, "streamed by chat.update"
    assert fake_slack.sent(dm(OWNER))[0].thread_ts is None, "a DM answer is not threaded"
    facts = fake_slack.event(event_id)
    assert facts["acked_at"] is not None and facts["attempts"] == 1
    async with gw.client() as client:
        status = (await client.get("/status")).json()["channels"]["slack"]
    assert status["state"] == "connected" and status["transport_alive"] is True
    assert status["identity"] == "@nexus in Nexus Test"
    assert status["delivery_ok_at"] is not None and status["delivery_probe"] == "events only"
    assert len(router.calls) == 1


async def test_a_mention_in_a_channel_is_answered_once_in_its_thread(
    slack_gateway: GatewayFactory, fake_slack: FakeSlack
) -> None:
    router = ScriptedRouter()
    await slack_gateway(router=router)
    fake_slack.push_mention(user=OWNER, channel="C0GENERAL", text="status?")
    sent = await until(lambda: answers(fake_slack, "C0GENERAL", "echo: status?"), what="answer")
    await until(lambda: fake_slack.unacked() == 0, what="both events acked")
    assert sent[0].thread_ts is not None
    assert len(router.calls) == 1, "the message event and the app_mention event are one message"
    assert fake_slack.sent("C0GENERAL")[0].text.startswith("echo: status?")
    assert BOT_USER_ID not in router.calls[0].messages[-1].content


async def test_a_stranger_is_offered_a_code_and_served_once_paired(
    slack_gateway: GatewayFactory, fake_slack: FakeSlack
) -> None:
    router = ScriptedRouter()
    gw = await slack_gateway(router=router)
    fake_slack.push_message(user=STRANGER, text="let me in")
    offer = await until(lambda: fake_slack.sent(dm(STRANGER)), what="pairing code")
    code = offer[0].text.split("pairing code is ")[1].split(".")[0]
    fake_slack.push_message(user=STRANGER, text="again")
    await until(lambda: fake_slack.unacked() == 0, what="events acked")
    assert len(fake_slack.sent(dm(STRANGER))) == 1 and router.calls == []
    assert gw.runtime.channels.pairings.approve("slack", code, max_age_s=3600) is not None
    fake_slack.push_message(user=STRANGER, text="now?")
    await until(lambda: answers(fake_slack, dm(STRANGER), "echo: now?"), what="served after pairing")
    assert [t.messages[-1].content for t in router.calls] == ["now?"]


async def test_an_unacked_event_comes_again_under_a_new_envelope_and_is_answered_once(
    slack_gateway: GatewayFactory, fake_slack: FakeSlack
) -> None:
    router = ScriptedRouter()
    gw = await slack_gateway(router=router)
    await until(lambda: gw.runtime.channels.state("slack") == "connected", what="connected")
    # the same event twice (a redelivery after a lost ack), and a client resend of the same message
    event = fake_slack.push_message(user=OWNER, text="once", client_msg_id="c0ffee")
    await until(lambda: answers(fake_slack, dm(OWNER), "echo: once"), what="answer")
    fake_slack.push_message(user=OWNER, text="once", client_msg_id="c0ffee")
    await until(lambda: fake_slack.unacked() == 0, what="resend acked")
    assert fake_slack.event(event)["attempts"] == 1
    assert len(router.calls) == 1


async def test_a_429_on_post_is_retried_after_retry_after(
    slack_gateway: GatewayFactory, fake_slack: FakeSlack
) -> None:
    fake_slack.fail_next("chat.postMessage", Failure(status=429, retry_after=1))
    await slack_gateway()
    fake_slack.push_message(user=OWNER, text="busy?")
    await until(lambda: answers(fake_slack, dm(OWNER), "echo: busy?"), timeout=15, what="answer after 429")
    first, second = fake_slack.call_times("chat.postMessage")[:2]
    assert second - first >= 0.95, "the retry waited for Retry-After"


async def test_streams_share_one_chat_update_budget_per_workspace(
    slack_gateway: GatewayFactory, fake_slack: FakeSlack
) -> None:
    users = [f"U0BUDGET{i}" for i in range(4)]
    router = ScriptedRouter(delay=0.15)  # each answer streams for ~0.5 s, all four at once
    await slack_gateway(router=router, allow=users, updates_per_minute=240.0, update_burst=2)
    for user in users:
        fake_slack.push_message(user=user, text=f"long answer please {user}")
    for user in users:
        await until(
            lambda user=user: answers(fake_slack, dm(user), f"echo: long answer please {user}"),
            timeout=20,
            what="every answer",
        )
    updates = sorted(fake_slack.call_times("chat.update"))
    assert updates, "streamed by chat.update"
    # 240/min is 4 a second with a burst of 2: no one-second window may hold more than 4 + 2
    worst = max(sum(1 for t in updates if start <= t < start + 1.0) for start in updates)
    assert worst <= 6, (worst, len(updates))


async def test_a_deaf_socket_is_detected_by_the_canary_and_replaced(
    slack_gateway: GatewayFactory, fake_slack: FakeSlack
) -> None:
    gw = await slack_gateway(canary_channel="C0CANARY", canary_interval_s=0.5, canary_timeout_s=1.0)
    manager = gw.runtime.channels
    await until(lambda: manager.status()["slack"].get("delivery_ok_at") is not None, what="first canary back")
    assert manager.status()["slack"]["delivery_alive"] is True
    fake_slack.make_deaf()  # pings still answered: transport checks alone cannot see this
    await until(lambda: "deaf" in (manager.status()["slack"]["last_error"] or ""), what="deafness detected")
    await until(lambda: fake_slack.connections >= 2, what="a new socket")
    fake_slack.push_message(user=OWNER, text="heard?")
    await until(lambda: answers(fake_slack, dm(OWNER), "echo: heard?"), what="answer on the new socket")


async def test_a_dropped_socket_is_replaced(slack_gateway: GatewayFactory, fake_slack: FakeSlack) -> None:
    await slack_gateway()
    await until(lambda: fake_slack.open_sockets() == 1, what="connected")
    fake_slack.drop_sockets()
    await until(lambda: fake_slack.connections >= 2, what="reconnected")
    fake_slack.push_message(user=OWNER, text="still there?")
    await until(lambda: answers(fake_slack, dm(OWNER), "echo: still there?"), what="answer after drop")


async def test_refresh_requested_opens_the_new_socket_before_the_old_closes(
    slack_gateway: GatewayFactory, fake_slack: FakeSlack
) -> None:
    gw = await slack_gateway()
    manager = gw.runtime.channels
    await until(lambda: fake_slack.open_sockets() == 1, what="connected")
    fake_slack.disconnect("refresh_requested")
    await until(lambda: fake_slack.connections == 2, what="a second socket")
    await until(lambda: fake_slack.open_sockets() == 1, what="the old socket closed")
    assert manager.status()["slack"]["reconnects"] == 0, "a routine refresh is not a failure"
    fake_slack.push_message(user=OWNER, text="after refresh")
    await until(lambda: answers(fake_slack, dm(OWNER), "echo: after refresh"), what="answer")


async def test_link_disabled_is_final_and_names_the_fix(
    slack_gateway: GatewayFactory, fake_slack: FakeSlack
) -> None:
    gw = await slack_gateway()
    manager = gw.runtime.channels
    await until(lambda: fake_slack.open_sockets() == 1, what="connected")
    fake_slack.disconnect("link_disabled")
    await until(lambda: manager.state("slack") == "failed", what="failed")
    assert "Socket Mode" in manager.status()["slack"]["last_error"]
    assert manager.status()["slack"]["retry_at"] is not None
    connections = fake_slack.connections
    await until(lambda: fake_slack.open_sockets() == 0, what="socket closed")
    assert fake_slack.connections == connections, "no reconnect loop"


async def test_too_many_websockets_backs_off(slack_gateway: GatewayFactory, fake_slack: FakeSlack) -> None:
    fake_slack.max_sockets = 0
    gw = await slack_gateway()
    manager = gw.runtime.channels
    await until(lambda: manager.state("slack") == "standby", what="standby")
    assert "too_many_websockets" in manager.status()["slack"]["last_error"]
    assert fake_slack.connections == 1


@pytest.mark.parametrize("which", ["app", "bot"])
async def test_a_bad_token_is_final(slack_gateway: GatewayFactory, fake_slack: FakeSlack, which: str) -> None:
    other_app, other_bot = new_tokens()
    tokens = (other_app, fake_slack.bot_token) if which == "app" else (fake_slack.app_token, other_bot)
    gw = await slack_gateway(secret_override="\n".join(tokens))
    manager = gw.runtime.channels
    await until(lambda: manager.state("slack") == "failed", what="failed")
    error = manager.status()["slack"]["last_error"]
    assert "nexus channels add slack" in error and ("xapp" if which == "app" else "xoxb") in error
    assert other_app not in error and other_bot not in error
    assert fake_slack.connections == 0


async def test_no_ack_until_the_handler_committed_and_a_failed_commit_is_redelivered(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    """The adapter alone: a handler that fails (the commit did not happen) leaves the envelope unacked,
    Slack redelivers it, and the second delivery is acked only once the handler returned."""
    import asyncio

    from nexus.channels.registry import manifest
    from nexus.channels.slack.adapter import create
    from nexus.common.secret import Secret
    from tests.channels.slack_support import slack_table

    config = manifest("slack").validate(slack_table(fake_slack))
    channel = create(
        config=config, token=Secret(f"{fake_slack.app_token}\n{fake_slack.bot_token}"), lock_dir=tmp_path
    )
    seen: list[str] = []
    release = asyncio.Event()

    async def handler(message: object) -> None:
        seen.append(getattr(message, "message_id", ""))
        if len(seen) == 1:
            raise RuntimeError("database is locked")
        await release.wait()

    await channel.start()
    receiving = asyncio.create_task(channel.receive(handler))
    try:
        event = fake_slack.push_message(user=OWNER, text="commit me")
        await until(lambda: len(seen) == 2, what="the redelivery")
        facts = fake_slack.event(event)
        assert facts["attempts"] == 2 and len(set(facts["envelope_ids"])) == 2
        assert seen[0] == seen[1], "both deliveries carry the same message identity"
        await asyncio.sleep(0.1)
        assert fake_slack.event(event)["acked_at"] is None, "not acked while the commit is in progress"
        release.set()
        await until(lambda: fake_slack.event(event)["acked_at"] is not None, what="ack after commit")
    finally:
        await channel.stop()
        await asyncio.wait_for(receiving, 5)
