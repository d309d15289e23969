"""Nothing accepted is lost: kill -9 the gateway while answers stream, restart, every message is
answered exactly once, and a resend after the restart creates nothing new."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import httpx

from nexus.fakes.anthropic_server import FakeAnthropic, Reply
from tests.gateway_process import GatewayProcess

MESSAGES = 200
SESSIONS = 20


async def send_all(gw: GatewayProcess) -> dict[str, str]:
    """POST every message (bounded concurrency); returns run_id -> text. Every one must be 202."""
    sent: dict[str, str] = {}
    async with httpx.AsyncClient(
        base_url=gw.base_url, headers={"Authorization": f"Bearer {gw.token}"}, timeout=30
    ) as client:

        async def one(i: int) -> None:
            body = {"session": f"s{i % SESSIONS}", "text": f"message {i}", "idempotency_key": f"k{i}"}
            response = await client.post("/api/messages", json=body)
            assert response.status_code == 202, response.text
            sent[response.json()["run_id"]] = body["text"]

        for start in range(0, MESSAGES, 25):
            await asyncio.gather(*(one(i) for i in range(start, min(start + 25, MESSAGES))))
    return sent


def counts(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall()
    finally:
        conn.close()
    return dict(rows)


def test_kill_9_while_streaming_loses_nothing_and_answers_once(
    tmp_path: Path, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.always(None, Reply(chunks=5, delay=0.01))  # ~50 ms per answer, streamed
    home = tmp_path / "home"
    env = {"ANTHROPIC_BASE_URL": fake_anthropic.base_url, "ANTHROPIC_API_KEY": "test-key"}
    gw = GatewayProcess(home, env=env)
    try:
        gw.start()
        sent = asyncio.run(send_all(gw))
        assert len(sent) == MESSAGES
        # wait until answers are flowing, then crash in the middle of them
        deadline = time.monotonic() + 20
        while counts(home / "state.db").get("done", 0) < 15:
            assert time.monotonic() < deadline, "no answers before the crash"
            time.sleep(0.01)
        gw.kill()
        before = counts(home / "state.db")
        assert before.get("done", 0) < MESSAGES, f"nothing was left to resume: {before}"
        assert before.get("running", 0) >= 1, f"the crash hit no run in flight: {before}"

        gw.start()
        deadline = time.monotonic() + 60
        while (
            counts(home / "state.db").get("done", 0) + counts(home / "state.db").get("failed", 0) < MESSAGES
        ):
            assert time.monotonic() < deadline, counts(home / "state.db")
            time.sleep(0.05)

        with httpx.Client(base_url=gw.base_url, headers={"Authorization": f"Bearer {gw.token}"}) as client:
            for run_id, text in sent.items():
                run = client.get(f"/api/runs/{run_id}").json()
                assert run["status"] == "done", run
                assert run["text"] == f"echo: {text}"
            # a client that resends after the restart gets the same runs back, not new ones
            for i in range(0, MESSAGES, 17):
                again = client.post(
                    "/api/messages",
                    json={"session": f"s{i % SESSIONS}", "text": f"message {i}", "idempotency_key": f"k{i}"},
                ).json()
                assert again["created"] is False and again["run_id"] in sent
    finally:
        gw.kill()

    conn = sqlite3.connect(home / "state.db")
    try:
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == MESSAGES
        steps = conn.execute("SELECT run_id, COUNT(*) FROM run_steps GROUP BY run_id").fetchall()
        accepted = conn.execute("SELECT session, text FROM runs ORDER BY seq").fetchall()
    finally:
        conn.close()
    assert len(steps) == MESSAGES and all(n == 1 for _, n in steps), "a finished step was repeated"
    # per session, the model was asked in the order the messages were accepted
    asked = list(dict.fromkeys(r.body["messages"][-1]["content"] for r in fake_anthropic.requests))
    for s in range(SESSIONS):
        expected = [text for session, text in accepted if session == f"s{s}"]
        assert [t for t in asked if t in expected] == expected


IN_FLIGHT_MESSAGES = 50


def test_kill_9_with_20_in_flight_fails_none(tmp_path: Path, fake_anthropic: FakeAnthropic) -> None:
    """The outside report: kill -9 with ~20 requests in flight left 41 of 50 runs ``failed``. The
    crash is no attempt of a queued run, and the provider connections the gateway's own death cut
    are no provider failure: after the restart all 50 end ``done``, each with one answer."""
    fake_anthropic.always(None, Reply(chunks=4, delay=0.25))  # ~1 s per answer: runs stay in flight
    home = tmp_path / "home"
    env = {"ANTHROPIC_BASE_URL": fake_anthropic.base_url, "ANTHROPIC_API_KEY": "test-key"}
    gw = GatewayProcess(home, env=env)
    try:
        gw.start()
        sent: dict[str, str] = {}
        with httpx.Client(
            base_url=gw.base_url, headers={"Authorization": f"Bearer {gw.token}"}, timeout=30
        ) as client:
            for i in range(IN_FLIGHT_MESSAGES):  # 20 sessions in flight at once, the rest queued behind
                body = {"session": f"f{i % 20}", "text": f"flight {i}", "idempotency_key": f"f{i}"}
                response = client.post("/api/messages", json=body)
                assert response.status_code == 202, response.text
                sent[response.json()["run_id"]] = body["text"]
        deadline = time.monotonic() + 20
        while counts(home / "state.db").get("running", 0) < 20:
            assert time.monotonic() < deadline, counts(home / "state.db")
            time.sleep(0.01)
        gw.kill()
        assert counts(home / "state.db").get("running", 0) >= 15

        gw.start()
        deadline = time.monotonic() + 60
        while (c := counts(home / "state.db")).get("done", 0) + c.get("failed", 0) < IN_FLIGHT_MESSAGES:
            assert time.monotonic() < deadline, c
            time.sleep(0.05)
        assert c == {"done": IN_FLIGHT_MESSAGES}, c
        with httpx.Client(base_url=gw.base_url, headers={"Authorization": f"Bearer {gw.token}"}) as client:
            for run_id, text in sent.items():
                run = client.get(f"/api/runs/{run_id}").json()
                assert (run["status"], run["text"]) == ("done", f"echo: {text}"), run
    finally:
        gw.kill()

    conn = sqlite3.connect(home / "state.db")
    try:
        steps = conn.execute("SELECT run_id, COUNT(*) FROM run_steps GROUP BY run_id").fetchall()
    finally:
        conn.close()
    assert len(steps) == IN_FLIGHT_MESSAGES and all(n == 1 for _, n in steps), "an answer was given twice"
