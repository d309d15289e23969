"""``send_message {session | channel+chat, text}``: a message to a chat through the channel outbox.

The outbox row is keyed by the tool call (``tool:<run>:<step>:<call id>``), so a resumed run, a
replayed step or a second delivery attempt can never queue the same message twice (OpenClaw#136251).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from nexus.agent.tool import SideEffect, ToolContext, ToolError, ToolInput, ToolResult


class SendMessageInput(ToolInput):
    session: str | None = Field(default=None, description="A session; the message goes to its chat.")
    channel: str | None = Field(default=None, description="A channel name, e.g. telegram (with chat).")
    chat: str | None = Field(default=None, description="The chat id on that channel (with channel).")
    text: str = Field(min_length=1, max_length=20_000)

    @model_validator(mode="after")
    def _one_target(self) -> SendMessageInput:
        if (self.session is None) == (self.channel is None and self.chat is None):
            raise ValueError("give either session, or channel and chat")
        if self.session is None and (self.channel is None or self.chat is None):
            raise ValueError("channel and chat go together")
        return self


class SendMessage:
    name: ClassVar[str] = "send_message"
    description: ClassVar[str] = (
        "Send a text message to a chat: to a session (its last chat) or to channel + chat id."
    )
    Input: ClassVar[type[ToolInput]] = SendMessageInput
    side_effect: ClassVar[SideEffect] = SideEffect.EXTERNAL

    async def run(self, args: SendMessageInput, ctx: ToolContext) -> ToolResult:
        outbox = ctx.services.get("outbox")
        routes = ctx.services.get("routes")
        if outbox is None or routes is None:
            raise ToolError("send_message is not available: this gateway has no channel outbox")
        if args.session is not None:
            route = routes.latest_for_session(args.session)
            if route is None:
                raise ToolError(
                    f"session {args.session!r} has no chat to deliver to (it never came from a channel)"
                )
            channel, chat = route.channel, route.chat_id
        else:
            assert args.channel is not None and args.chat is not None
            channel, chat = args.channel, args.chat
        known = ctx.services.get("channels")
        if known is not None and channel not in known:
            raise ToolError(
                f"channel {channel!r} is not enabled here; enabled: {', '.join(sorted(known)) or 'none'}"
            )
        queued = outbox.enqueue(
            channel=channel,
            chat_id=chat,
            dedupe_key=f"tool:{ctx.call_key}",
            text=args.text,
            run_id=ctx.run_id,
        )
        state = "queued" if queued else "already queued earlier"
        return ToolResult(f"message to {channel} chat {chat} {state} ({len(args.text)} characters)")
