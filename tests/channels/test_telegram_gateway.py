"""Telegram through a real in-process gateway and the fake Bot API: in, streamed out, exactly once."""

from __future__ import annotations

import httpx

from tests.channels.conftest import OWNER, STRANGER, GatewayFactory, until
from tests.fakes.telegram_server import Failure, FakeTelegram
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
    assert fake_tg.calls("sendChatAction") >= 1
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
    gw = await telegram_gateway()
    fake_tg.push_message(chat_id=OWNER, text="rate me")
    delivered = await until(
        lambda: [m for m in fake_tg.sent(OWNER) if m.text == "echo: rate me"], what="delivery"
    )
    calls = fake_tg.call_times("sendMessage")
    assert len(calls) == 3
    assert delivered[0].sent_at - calls[1] >= 0.95, "the outbox waited the retry_after Telegram named"
    assert len(fake_tg.sent(OWNER)) == 1
    item = gw.runtime.channels.outbox.by_key(f"run:{gw.runtime.store.session_runs('telegram:4242')[0].id}")
    assert item is not None and item.status == "sent" and item.attempts == 2
    async with httpx.AsyncClient(base_url=gw.base_url) as anon:
        assert (await anon.get("/readyz")).status_code == 200
