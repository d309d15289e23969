"""The gateway's side of the tools: the tool world of this gateway, the loop's events on the bus, and
approvals announced in the chat a run came from and answered by a reply there.

A reply ``/approve ID`` or ``/deny ID`` (also without the slash) is answered at acceptance, before the
session's lane: the run waiting for that approval holds the lane, so a reply queued behind it would
wait forever. It is honoured only in the session the approval was asked for (or from the local API,
which already carries the owner's gateway token).
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Mapping

from nexus.agent.environment import known_secrets, scrub_environment
from nexus.agent.loop import ToolWorld
from nexus.agent.policy import approval_question
from nexus.agent.registry import ToolRegistry
from nexus.agent.tools import builtin_tools
from nexus.agent.workspace import Workspace
from nexus.common.paths import NexusPaths
from nexus.config.schema import NexusConfig
from nexus.gateway.agent_tools import gateway_tools
from nexus.gateway.events import EventBus
from nexus.protocol import events as ev
from nexus.store.approvals import Approval, ApprovalStore
from nexus.store.cron import CronStore
from nexus.store.inbound import RouteStore
from nexus.store.memory import MemoryStore
from nexus.store.outbox import Outbox

log = logging.getLogger(__name__)

REPLY = re.compile(r"^\s*/?(approve|deny)\s+(apr_[0-9a-f]{6,32})\s*$", re.IGNORECASE)
LOCAL_CHANNELS = frozenset({"api", "ws", "openai"})

ASK_TEXT = (
    "Approval needed ({id}): {question}?\n"
    "Reply /approve {id} or /deny {id} (or `nexus approve {id}`); it expires in {minutes} min."
)


def build_tool_world(
    config: NexusConfig,
    paths: NexusPaths,
    conn: sqlite3.Connection,
    *,
    environ: Mapping[str, str] | None = None,
    registry: ToolRegistry | None = None,
) -> ToolWorld:
    """Every run's tools, workspace, limits and collaborators, built once per gateway."""
    import os

    env = os.environ if environ is None else environ
    return ToolWorld(
        registry=registry or ToolRegistry([*builtin_tools(), *gateway_tools()]),
        workspace=Workspace.for_home(paths, config.agent.workspace),
        tools=config.tools,
        agent=config.agent,
        spool_dir=paths.run / "tool-output",
        environ=scrub_environment(env, secrets=known_secrets(config, paths, env)),
        services={
            "outbox": Outbox(conn),
            "routes": RouteStore(conn),
            "channels": frozenset(config.channels),
            "cron": CronStore(conn),
            "memory": MemoryStore(conn),
        },
        approvals=ApprovalStore(conn),
    )


def parse_reply(text: str) -> tuple[bool, str] | None:
    """``(approve, id)`` when a message is an answer to an approval."""
    match = REPLY.match(text)
    if match is None:
        return None
    return match.group(1).lower() == "approve", match.group(2).lower()


def may_answer(approval: Approval, *, session: str, channel: str) -> bool:
    return channel in LOCAL_CHANNELS or approval.session == session


def announce_in_chats(bus: EventBus, conn: sqlite3.Connection) -> None:
    """Post each new approval request to the chat its session came from (once per approval id)."""
    routes = RouteStore(conn)
    outbox = Outbox(conn)
    approvals = ApprovalStore(conn)

    def on_event(event: ev.Event) -> None:
        if not isinstance(event, ev.ApprovalRequested) or not event.session:
            return
        try:
            route = routes.latest_for_session(event.session)
            approval = approvals.get(event.approval_id)
            if route is None or approval is None:
                return
            minutes = max(1, round((approval.expires_at - approval.created_at) / 60))
            text = ASK_TEXT.format(
                id=approval.id,
                question=approval_question(approval.subject),
                minutes=minutes,
            )
            outbox.enqueue(
                channel=route.channel, chat_id=route.chat_id, dedupe_key=f"approval:{approval.id}", text=text
            )
        except Exception:
            log.exception("could not announce approval %s in its chat", event.approval_id)

    bus.listen(on_event)
