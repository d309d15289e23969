"""Approvals in the chat: announced where the session came from, answered by a reply there."""

from __future__ import annotations

from nexus.gateway.tools_host import parse_reply
from nexus.protocol import events as ev
from nexus.store.approvals import ApprovalStatus
from nexus.store.inbound import RouteStore
from nexus.store.outbox import Outbox
from tests.gateway.conftest import RunningGateway


def test_parse_reply() -> None:
    assert parse_reply("/approve apr_0a1b2c3d4e") == (True, "apr_0a1b2c3d4e")
    assert parse_reply("  DENY apr_0A1B2C3D4E ") == (False, "apr_0a1b2c3d4e")
    assert parse_reply("please approve apr_0a1b2c3d4e") is None
    assert parse_reply("/approve") is None


async def test_announced_in_the_chat_and_answered_by_a_reply(gateway: RunningGateway) -> None:
    runtime = gateway.runtime
    conn = runtime._agent_db
    RouteStore(conn).record(
        session="telegram:42",
        idempotency_key="m1",
        channel="telegram",
        chat_id="42",
        message_id="1",
        sender="7",
    )
    approval, _ = runtime.approvals.request(
        run_id="run_x",
        call_key="run_x:1:c1",
        tool="exec",
        subject={"command": "git push", "cwd": "/w"},
        timeout_s=600,
        session="telegram:42",
    )
    asked = ev.ApprovalRequested(
        approval_id=approval.id, run_id="run_x", session="telegram:42", tool="exec", summary="git push"
    )
    runtime.bus.publish(asked)
    runtime.bus.publish(asked)  # announced again after a restart: still one message
    (item,) = Outbox(conn).due("telegram")
    assert item.chat_id == "42" and item.dedupe_key == f"approval:{approval.id}"
    assert f"Reply /approve {approval.id} or /deny {approval.id}" in item.text and "`git push`" in item.text

    # a reply from another chat is an ordinary message for the model, and changes nothing
    other, _ = runtime.accept(session="telegram:99", text=f"/approve {approval.id}", channel="telegram")
    done = await runtime.wait_run(other.id, 10)
    assert done is not None and done.answer == f"echo: /approve {approval.id}"
    assert runtime.approvals.get(approval.id).status is ApprovalStatus.PENDING

    reply, _ = runtime.accept(
        session="telegram:42", text=f"/approve {approval.id}", channel="telegram", sender="7"
    )
    answered = await runtime.wait_run(reply.id, 10)
    assert answered is not None and answered.answer == f"Approved: run `git push` in /w ({approval.id})."
    current = runtime.approvals.get(approval.id)
    assert current.status is ApprovalStatus.APPROVED and current.decided_by == "telegram:7"

    again, _ = runtime.accept(session="telegram:42", text=f"/deny {approval.id}", channel="telegram")
    closed = await runtime.wait_run(again.id, 10)
    assert closed is not None and "already approved" in (closed.answer or "")
