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
from nexus.agent.events import ApprovalRequested, ApprovalResolved, LoopEvent, LoopSink, ToolStep
from nexus.agent.loop import ToolWorld
from nexus.agent.registry import ToolRegistry
from nexus.agent.tools import builtin_tools
from nexus.agent.workspace import Workspace
from nexus.common.paths import NexusPaths
from nexus.config.schema import NexusConfig
from nexus.gateway.events import Event, EventBus
from nexus.protocol import frames
from nexus.store.approvals import Approval, ApprovalStore
from nexus.store.inbound import RouteStore
from nexus.store.outbox import Outbox

log = logging.getLogger(__name__)

REPLY = re.compile(r"^\s*/?(approve|deny)\s+(apr_[0-9a-f]{6,32})\s*$", re.IGNORECASE)
LOCAL_CHANNELS = frozenset({"api", "ws", "openai"})

ASK_TEXT = (
    "Approval needed ({id}): run `{command}` in {cwd}?\n"
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
        registry=registry or ToolRegistry(builtin_tools()),
        workspace=Workspace.for_home(paths, config.agent.workspace),
        tools=config.tools,
        agent=config.agent,
        spool_dir=paths.run / "tool-output",
        environ=scrub_environment(env, secrets=known_secrets(config, paths, env)),
        services={"outbox": Outbox(conn), "routes": RouteStore(conn), "channels": frozenset(config.channels)},
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


def loop_sink(bus: EventBus, *, run_id: str, session: str) -> LoopSink:
    """The loop's events as gateway events: ``run.tool`` to the session, approvals to everyone."""

    def publish(event: LoopEvent) -> None:
        if isinstance(event, ToolStep):
            bus.publish(
                frames.EV_RUN_TOOL,
                {
                    "run_id": event.run_id,
                    "session": session,
                    "call_id": event.call_id,
                    "name": event.name,
                    "input": event.summary,
                    "state": event.state,
                    "detail": event.detail,
                },
                session=session,
            )
        elif isinstance(event, ApprovalRequested):
            bus.publish(frames.EV_APPROVAL_REQUESTED, event.approval.to_api(), session=event.approval.session)
        elif isinstance(event, ApprovalResolved):
            bus.publish(frames.EV_APPROVAL_RESOLVED, event.approval.to_api(), session=event.approval.session)

    return publish


def announce_in_chats(bus: EventBus, conn: sqlite3.Connection) -> None:
    """Post each new approval request to the chat its session came from (once per approval id)."""
    routes = RouteStore(conn)
    outbox = Outbox(conn)

    def on_event(event: Event) -> None:
        if event.name != frames.EV_APPROVAL_REQUESTED or not event.session:
            return
        try:
            route = routes.latest_for_session(event.session)
            if route is None:
                return
            p = event.payload
            subject = p.get("subject") or {}
            minutes = max(1, round((float(p["expires_at"]) - float(p["created_at"])) / 60))
            text = ASK_TEXT.format(
                id=p["id"], command=subject.get("command"), cwd=subject.get("cwd"), minutes=minutes
            )
            outbox.enqueue(
                channel=route.channel, chat_id=route.chat_id, dedupe_key=f"approval:{p['id']}", text=text
            )
        except Exception:
            log.exception("could not announce approval %s in its chat", event.payload.get("id"))

    bus.listen(on_event)
