"""send_message queues through the channel outbox, once per tool call."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus.agent.tool import ToolError
from nexus.agent.tools.send_message import SendMessage, SendMessageInput
from nexus.agent.workspace import Workspace
from nexus.store import RunStore
from nexus.store.inbound import RouteStore
from nexus.store.outbox import Outbox
from tests.agent.conftest import make_ctx


async def test_queued_once_per_call_to_the_session_chat(
    store: RunStore, workspace: Workspace, tmp_path: Path
) -> None:
    conn = store._conn
    RouteStore(conn).record(
        session="telegram:42",
        idempotency_key="m1",
        channel="telegram",
        chat_id="42",
        message_id="1",
        sender="7",
    )
    outbox = Outbox(conn)
    services = {"outbox": outbox, "routes": RouteStore(conn), "channels": {"telegram"}}
    ctx = make_ctx(workspace, tmp_path, services=services)
    first = await SendMessage().run(SendMessageInput(session="telegram:42", text="backup done"), ctx)
    again = await SendMessage().run(SendMessageInput(session="telegram:42", text="backup done"), ctx)
    assert "queued" in first.content and "already queued earlier" in again.content
    (item,) = outbox.due("telegram")
    assert item.chat_id == "42" and item.text == "backup done" and item.dedupe_key == "tool:run_t:1:call_1"
    direct = make_ctx(workspace, tmp_path, services=services)
    direct.call_key = "run_t:1:call_2"
    await SendMessage().run(SendMessageInput(channel="telegram", chat="99", text="hi"), direct)
    assert {i.chat_id for i in outbox.due("telegram")} == {"42", "99"}
    with pytest.raises(ToolError, match="never came from a channel"):
        await SendMessage().run(SendMessageInput(session="api-only", text="x"), ctx)
    with pytest.raises(ToolError, match="not enabled here"):
        await SendMessage().run(SendMessageInput(channel="slack", chat="1", text="x"), ctx)
    bare = make_ctx(workspace, tmp_path)
    with pytest.raises(ToolError, match="no channel outbox"):
        await SendMessage().run(SendMessageInput(channel="telegram", chat="1", text="x"), bare)
