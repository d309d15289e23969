"""Telegram through a real in-process gateway and the fake Bot API: in, streamed out, exactly once."""

from __future__ import annotations

import asyncio
import threading

import httpx

from nexus.fakes.telegram_server import Failure, FakeTelegram
from tests.channels.conftest import OWNER, STRANGER, GatewayFactory, until
from tests.gateway.conftest import ScriptedRouter


async def test_message_in_streamed_answer_out(
    telegram_gateway: GatewayFactory, fake_tg: FakeTelegram
) -> None:
    router = ScriptedRouter(delay=0.1)
    gw = await telegram_gateway(router=router)
    fake_tg.push_message(chat_id=OWNER, text="hello there")
    sent = await until(
        lambda: [m for m in fake_tg.sent(OWNER) if m.text == "echo: hello there"], what="answer"
    )
    answer = sent[0]
    assert len(fake_tg.sent(OWNER)) == 1, "the answer edits the streaming message instead of adding one"
    assert answer.edits, "the answer was streamed by editing one message"
    assert answer.reply_to == 1
    manager = gw.runtime.channels
    await until(lambda: manager.status()["telegram"]["outbox"]["sent"] == 1, what="outbox row sent")
    async with gw.client() as client:
        status = (await client.get("/status")).json()["channels"]["telegram"]
    assert status["state"] == "connected" and status["transport_alive"] is True
    assert status["last_inbound_at"] and status["last_outbound_at"]
    assert status["identity"] == "@nexus_test_bot"
    assert status["outbox"] == {"pending": 0, "sent": 1, "dead": 0}
    assert fake_tg.sent(OWNER)[0].text == "echo: hello there"
    assert len(router.calls) == 1


async def test_stranger_never_reaches_the_model_and_pairing_lets_them_in(
    telegram_gateway: GatewayFactory, fake_tg: FakeTelegram
) -> None:
    router = ScriptedRouter()
    gw = await telegram_gateway(router=router)
    fake_tg.push_message(chat_id=STRANGER, text="let me in")
    offer = await until(lambda: fake_tg.sent(STRANGER), what="pairing code")
    code = offer[0].text.split("pairing code is ")[1].split(".")[0]
    fake_tg.push_message(chat_id=STRANGER, text="again")
    await until(
        lambda: fake_tg.confirmed_offset > 0 and fake_tg.pending_updates() == 0, what="updates consumed"
    )
    assert len(fake_tg.sent(STRANGER)) == 1, "a chatty stranger is not answered twice"
    assert router.calls == []
    manager = gw.runtime.channels
    assert manager.pairings.approve("telegram", code, max_age_s=3600) is not None
    fake_tg.push_message(chat_id=STRANGER, text="now?")
    await until(
        lambda: any(m.text == "echo: now?" for m in fake_tg.sent(STRANGER)), what="served after pairing"
    )
    assert [t.messages[-1].content for t in router.calls] == ["now?"]


async def test_429_on_send_is_delivered_after_retry_after(
    telegram_gateway: GatewayFactory, fake_tg: FakeTelegram
) -> None:
    # the first 429 hits the streaming preview (best effort), the second the durable outbox
    fake_tg.fail_next("sendMessage", Failure(429, retry_after=1), Failure(429, retry_after=1))
    gw = await telegram_gateway(router=ScriptedRouter(delay=0.05))  # deltas spaced: the preview goes first
    fake_tg.push_message(chat_id=OWNER, text="rate me")
    delivered = await until(
        lambda: [m for m in fake_tg.sent(OWNER) if m.text == "echo: rate me"], what="delivery"
    )
    calls = fake_tg.call_times("sendMessage")
    assert len(calls) == 3
    assert delivered[0].sent_at - calls[1] >= 0.95, "the outbox waited the retry_after Telegram named"
    assert len(fake_tg.sent(OWNER)) == 1
    key = f"run:{gw.runtime.store.session_runs('telegram:4242')[0].id}"
    item = await until(
        lambda: (i := gw.runtime.channels.outbox.by_key(key)) is not None and i.status == "sent" and i,
        what="the outbox row marked sent",
    )
    assert item.attempts == 2 and item.last_error is None
    async with httpx.AsyncClient(base_url=gw.base_url) as anon:
        assert (await anon.get("/readyz")).status_code == 200


async def test_a_silently_dropped_long_poll_is_detected_and_the_connection_rebuilt(
    telegram_gateway: GatewayFactory, fake_tg: FakeTelegram
) -> None:
    gw = await telegram_gateway()
    manager = gw.runtime.channels
    await until(lambda: fake_tg.calls("getUpdates") >= 1, what="first poll")
    fake_tg.stall = True
    status = await until(
        lambda: (s := manager.status()["telegram"])["reconnects"] >= 1 and s,
        timeout=10,
        what="stall detected",
    )
    assert "no answer" in status["last_error"]
    assert fake_tg.stalled_polls >= 1
    fake_tg.stall = False
    fake_tg.push_message(chat_id=OWNER, text="still there?")
    await until(lambda: any(m.text == "echo: still there?" for m in fake_tg.sent(OWNER)), what="answer after")
    assert manager.status()["telegram"]["state"] == "connected"


async def test_a_second_gateway_on_the_same_token_waits_in_standby_without_409s(
    telegram_gateway: GatewayFactory, fake_tg: FakeTelegram
) -> None:
    first = await telegram_gateway()
    await until(lambda: first.runtime.channels.state("telegram") == "connected", what="first connected")
    second = await telegram_gateway()
    status = await until(
        lambda: (s := second.runtime.channels.status()["telegram"])["state"] == "standby" and s,
        what="second in standby",
    )
    assert "already polls this bot token" in status["last_error"]
    async with httpx.AsyncClient(base_url=second.base_url) as anon:
        ready = await anon.get("/readyz")
    assert ready.status_code == 503
    assert any("channel telegram is standby" in r for r in ready.json()["reasons"])
    fake_tg.push_message(chat_id=OWNER, text="one poller")
    await until(lambda: any(m.text == "echo: one poller" for m in fake_tg.sent(OWNER)), what="answer")
    assert fake_tg.conflicts == 0
    assert first.runtime.channels.state("telegram") == "connected"


async def test_owner_alerts_go_to_the_owner_chat(
    telegram_gateway: GatewayFactory, fake_tg: FakeTelegram
) -> None:
    gw = await telegram_gateway(owners=[OWNER, 5151])
    assert gw.runtime.channels.notify_owner("token for anthropic:main expires in 2 days") == 2
    await until(lambda: fake_tg.sent(OWNER) and fake_tg.sent(5151), what="alerts delivered")
    assert fake_tg.sent(OWNER)[0].text == "token for anthropic:main expires in 2 days"
    assert fake_tg.sent(STRANGER) == []


async def test_a_bad_channel_table_names_the_key_and_the_gateway_still_serves(
    telegram_gateway: GatewayFactory, fake_tg: FakeTelegram
) -> None:
    gw = await telegram_gateway(allow="everyone", colour="blue")
    status = gw.runtime.channels.status()["telegram"]
    assert status["state"] == "failed"
    assert "channels.telegram.allow" in status["last_error"]
    assert "channels.telegram.colour: unknown key" in status["last_error"]
    async with gw.client() as client:
        ready = (await client.get("/readyz")).json()
        assert any("channels.telegram.allow" in r for r in ready["reasons"])
        accepted = await client.post("/api/messages", json={"session": "api", "text": "hi"})
        run = (await client.get(f"/api/runs/{accepted.json()['run_id']}", params={"wait": 5})).json()
    assert run["text"] == "echo: hi"
    assert fake_tg.calls("getUpdates") == 0


async def test_a_redelivered_update_is_answered_once(
    telegram_gateway: GatewayFactory, fake_tg: FakeTelegram
) -> None:
    router = ScriptedRouter()
    gw = await telegram_gateway(router=router)
    fake_tg.ignore_offsets = True  # every poll serves the same update again
    fake_tg.push_message(chat_id=OWNER, text="only once")
    await until(lambda: any(m.text == "echo: only once" for m in fake_tg.sent(OWNER)), what="answer")
    polls = fake_tg.calls("getUpdates")
    await until(lambda: fake_tg.calls("getUpdates") >= polls + 5, what="five more redeliveries")
    fake_tg.ignore_offsets = False
    assert len(fake_tg.sent(OWNER)) == 1
    assert len(router.calls) == 1
    assert len(gw.runtime.store.session_runs(f"telegram:{OWNER}")) == 1


async def test_a_409_from_a_foreign_poller_is_reported_and_backed_off(
    telegram_gateway: GatewayFactory, fake_tg: FakeTelegram, token: str
) -> None:
    gw = await telegram_gateway()
    manager = gw.runtime.channels
    await until(lambda: manager.state("telegram") == "connected", what="connected")
    stop = threading.Event()

    def foreign_poller() -> None:
        """Another machine polling the same bot: long polls back to back, as a careless bot would."""
        with httpx.Client(base_url=f"{fake_tg.base_url}/bot{token}", trust_env=False, timeout=5) as client:
            while not stop.is_set():
                client.post("/getUpdates", data={"timeout": "1"})

    thread = threading.Thread(target=foreign_poller, daemon=True)
    thread.start()
    try:
        status = await until(
            lambda: (s := manager.status()["telegram"])["state"] == "standby" and s, what="conflict seen"
        )
        assert "409 Conflict" in status["last_error"] and "webhook" in status["last_error"]
        polls_then = fake_tg.calls("getUpdates")
        ours = manager.status()["telegram"]["reconnects"]
        await asyncio.sleep(2.0)  # a storm would show dozens of reconnects in this window
        assert manager.status()["telegram"]["reconnects"] == ours
        assert fake_tg.calls("getUpdates") - polls_then <= 4, "only the foreign poller's own polls"
    finally:
        stop.set()
        await asyncio.to_thread(thread.join, 10)


async def test_typing_shows_only_while_an_answer_is_slow_to_start(
    telegram_gateway: GatewayFactory, fake_tg: FakeTelegram
) -> None:
    router = ScriptedRouter()
    await telegram_gateway(router=router)
    fake_tg.push_message(chat_id=OWNER, text="fast")
    await until(lambda: any(m.text == "echo: fast" for m in fake_tg.sent(OWNER)), what="fast answer")
    router.gate = asyncio.Event()  # the next answer does not start until the gate opens
    fake_tg.push_message(chat_id=OWNER, text="slow")
    await until(lambda: fake_tg.calls("sendChatAction") >= 1, what="typing for the slow answer")
    assert fake_tg.calls("sendChatAction") == 1, "the fast answer (earlier) showed no typing"
    router.gate.set()
    await until(lambda: any(m.text == "echo: slow" for m in fake_tg.sent(OWNER)), what="slow answer")


async def test_a_tool_approval_is_asked_and_answered_in_the_chat(
    telegram_gateway: GatewayFactory, fake_tg: FakeTelegram
) -> None:
    from nexus.models.turn import TurnResult
    from nexus.models.types import ToolCall, ToolResultBlock

    router = ScriptedRouter()
    router.script.extend(
        [
            TurnResult(
                text="",
                model="test/echo",
                profile="test:one",
                tool_calls=(ToolCall("toolu_1", "exec", {"command": "echo pushed"}),),
            ),
            "Pushed your backup.",
        ]
    )
    await telegram_gateway(router=router)  # [tools] exec = "ask" by default
    fake_tg.push_message(chat_id=OWNER, text="push my backup")
    asked = await until(
        lambda: [m for m in fake_tg.sent(OWNER) if "Reply /approve apr_" in m.text], what="approval request"
    )
    approval_id = asked[0].text.split("Reply /approve ")[1].split()[0]
    assert "`echo pushed`" in asked[0].text
    typing_before = fake_tg.calls("sendChatAction")
    fake_tg.push_message(chat_id=OWNER, text=f"/approve {approval_id}")
    await until(
        lambda: any(m.text.startswith("Approved: run `echo pushed` in ") for m in fake_tg.sent(OWNER)),
        what="ack",
    )
    await until(
        lambda: any(m.text == "Pushed your backup." for m in fake_tg.sent(OWNER)), what="final answer"
    )
    assert fake_tg.calls("sendChatAction") > typing_before, "the tool step showed typing"
    (result,) = [b for b in router.calls[-1].messages[-1].blocks if isinstance(b, ToolResultBlock)]
    assert result.tool_use_id == "toolu_1" and result.content == "exit code 0\npushed\n"
