"""The tool loop's driver: load the journal, ask :func:`decide`, do what it says, commit, repeat.

This is the only I/O around the pure decider. Order of commits is the whole point:

1. a model call is committed (text, tool calls, usage) before any of its calls runs;
2. every call's intent is committed before the tool starts, its result after it ends;
3. an approval is a row before it is announced, and the run waits on the row, not on a socket.

So whatever moment a crash picks, the next start sees a journal :func:`decide` has an answer for.
Tools of one model step run concurrently; each commits its own result when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from nexus.agent import journal as j
from nexus.agent.policy import GATED, approval_question, approval_subject, judge
from nexus.agent.process import reap_leftover
from nexus.agent.registry import ToolRegistry, ToolSpec
from nexus.agent.tool import ToolContext, ToolError, ToolResult, clip, summarize
from nexus.agent.workspace import Workspace
from nexus.config.schema import AgentConfig, ToolsConfig
from nexus.protocol import events as ev
from nexus.store import RunStore
from nexus.store.approvals import Approval, ApprovalStatus, ApprovalStore

log = logging.getLogger(__name__)

PARTIAL_CHARS = 4000
ABORT = "nexus:abort"
"""The cancel message of an abort (``task.cancel(ABORT)``), as opposed to the gateway stopping."""

LoopSink = Callable[[ev.Event], None]
"""Where the loop's events go (``run.tool``, ``approval.requested``/``resolved``): the gateway's bus."""


class ModelCaller(Protocol):
    """One model call over the journal so far (the router's ``complete`` with fallback, in the gateway)."""

    async def __call__(self, journal: Sequence[j.Entry], tools: list[ToolSpec]) -> j.ModelCalled: ...


@dataclass(frozen=True)
class LoopEnd:
    """How a run's loop ended: ``text`` is the answer (or the stop message when ``stopped``)."""

    text: str
    stopped: str | None = None
    model: str | None = None
    profile: str | None = None
    fell_back: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    model_calls: int = 0


@dataclass
class ToolWorld:
    """Everything the loop needs that is not the journal: shared by every run of a gateway."""

    registry: ToolRegistry
    workspace: Workspace
    tools: ToolsConfig
    agent: AgentConfig
    spool_dir: Path
    environ: Mapping[str, str] = field(default_factory=dict)
    services: Mapping[str, Any] = field(default_factory=dict)
    approvals: ApprovalStore | None = None
    now: Callable[[], float] = time.time

    def limits(self) -> j.Limits:
        a = self.agent
        return j.Limits(
            max_steps=a.max_steps,
            max_tokens=a.max_tokens,
            max_run_s=a.max_run_s,
            max_cost_usd=a.max_cost_usd,
            max_repeats=a.max_repeats,
        )

    def judge(self, call: j.ToolCall) -> j.Judgement:
        return judge(call, registry=self.registry, settings=self.tools)


class ApprovalBell:
    """Wakes every waiting run when any approval changes (answered via HTTP, a channel, or expiry)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def ring(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), max(timeout, 0.0))


def call_key(run_id: str, ordinal: int, call_id: str) -> str:
    return f"{run_id}:{ordinal}:{call_id}"


def load_journal(store: RunStore, run_id: str) -> list[j.Entry]:
    entries = []
    for step in store.steps(run_id):
        entry = j.entry_from_step(step.kind, step.payload)
        if entry is not None:
            entries.append(entry)
    return entries


class ToolLoop:
    def __init__(
        self,
        *,
        store: RunStore,
        world: ToolWorld,
        bell: ApprovalBell | None = None,
        sink: LoopSink | None = None,
    ) -> None:
        self._store = store
        self._world = world
        self._bell = bell or ApprovalBell()
        self._sink = sink or (lambda _event: None)
        self._journal: list[j.Entry] = []
        self._session = ""

    async def run(
        self,
        run_id: str,
        *,
        model: ModelCaller,
        started_at: float,
        session: str | None = None,
        sink: LoopSink | None = None,
        client_tools: bool = False,
    ) -> LoopEnd:
        """``client_tools``: the tools are the client's (``/v1`` with ``tools``), so Nexus runs none
        of them: the model's tool calls end the run and go back to the client."""
        # one driver per run: its journal and sink are its own, the store, world and bell are shared
        driver = ToolLoop(store=self._store, world=self._world, bell=self._bell, sink=sink or self._sink)
        driver._session = session or ""
        return await driver._drive(
            run_id, model=model, started_at=started_at, session=session, client_tools=client_tools
        )

    async def _drive(
        self,
        run_id: str,
        *,
        model: ModelCaller,
        started_at: float,
        session: str | None,
        client_tools: bool,
    ) -> LoopEnd:
        world = self._world
        specs = world.registry.specs()
        # read once; afterwards this loop is the run's only writer and appends what it commits
        journal = load_journal(self._store, run_id)
        self._journal = journal
        while True:
            if client_tools and journal and isinstance(journal[-1], j.ModelCalled) and journal[-1].calls:
                return _end(journal, journal[-1].text)  # also on resume: the committed call is the end
            ordinal = sum(1 for e in journal if isinstance(e, j.ModelCalled))
            decision = j.decide(
                journal,
                limits=world.limits(),
                elapsed_s=world.now() - started_at,
                judge=world.judge,
                approvals=self._approval_states(run_id, ordinal, journal),
            )
            if isinstance(decision, j.Finish):
                return _end(journal, decision.text)
            if isinstance(decision, j.Stop):
                return _end(journal, decision.reason, stopped=decision.limit)
            if isinstance(decision, j.CallModel):
                called = await model(journal, specs)
                self._store.add_step(run_id, j.MODEL_STEP, j.model_payload(called))
                journal.append(called)
            elif isinstance(decision, j.Close):
                for call, outcome, reason in decision.results:
                    self._close(run_id, ordinal, call, outcome, reason)
            elif isinstance(decision, j.RunTools):
                await self._run_tools(run_id, ordinal, decision.calls)
            elif isinstance(decision, j.RequestApproval):
                self._request(run_id, ordinal, decision.calls, session)
            elif isinstance(decision, j.WaitApproval):
                await self._wait(run_id, ordinal, decision.calls)

    # -- tools ------------------------------------------------------------------------------------

    async def _run_tools(self, run_id: str, ordinal: int, calls: Sequence[j.ToolCall]) -> None:
        for call in calls:  # every intent durable before the first tool starts
            tool = self._world.registry.get(call.name)
            side = tool.side_effect.value if tool is not None else "unknown"
            key = call_key(run_id, ordinal, call.id)
            payload = j.intent_payload(call, side_effect=side, key=key)
            self._store.add_step(run_id, j.INTENT_STEP, payload)
            self._journal.append(j.ToolStarted(call.id, call.name, payload["input_hash"]))
            self._emit(run_id, call, "started")
        await asyncio.gather(*(self._run_one(run_id, ordinal, call) for call in calls))

    async def _run_one(self, run_id: str, ordinal: int, call: j.ToolCall) -> None:
        world = self._world
        key = call_key(run_id, ordinal, call.id)
        spool = self._spool(key)
        try:
            tool, args = world.registry.parse(call.name, call.input)
            ctx = ToolContext(
                run_id=run_id,
                call_key=key,
                workspace=world.workspace,
                settings=world.tools,
                spool=spool,
                environ=world.environ,
                services=world.services,
            )
            result = await tool.run(args, ctx)
        except ToolError as exc:
            result = ToolResult(str(exc), is_error=True)
        except asyncio.CancelledError as exc:
            # the tool's own cleanup ran (exec killed its tree). An abort is said in the journal; an
            # orderly stop leaves the intent open, so the resumed run reports the call as interrupted
            if ABORT in exc.args:
                self._commit(run_id, call, ToolResult("aborted by the user", True), j.Outcome.INTERRUPTED)
            raise
        except Exception as exc:
            log.exception("tool %s failed inside the gateway", call.name)
            result = ToolResult(f"{call.name} failed inside the gateway: {type(exc).__name__}: {exc}", True)
        outcome = j.Outcome.ERROR if result.is_error else j.Outcome.DONE
        content = clip(result.content, world.tools.output_chars)
        self._commit(run_id, call, ToolResult(content, result.is_error), outcome)
        spool.unlink(missing_ok=True)

    def _close(self, run_id: str, ordinal: int, call: j.ToolCall, outcome: j.Outcome, reason: str) -> None:
        if outcome is j.Outcome.INTERRUPTED:
            spool = self._spool(call_key(run_id, ordinal, call.id))
            if reap_leftover(spool):
                log.warning("killed the leftover process tree of interrupted call %s", call.id)
            partial = _tail(spool, PARTIAL_CHARS)
            spool.unlink(missing_ok=True)
            reason = (
                "interrupted: the gateway stopped while this call was running, so its effect is UNKNOWN "
                "(it may have completed, partly or fully). It was not run again; check before repeating it."
                + (f"\npartial output:\n{partial}" if partial else "\n(no output was recorded)")
            )
        self._commit(run_id, call, ToolResult(reason, True), outcome)

    def _commit(self, run_id: str, call: j.ToolCall, result: ToolResult, outcome: j.Outcome) -> None:
        finished = j.ToolFinished(call.id, result.content, result.is_error, outcome)
        self._store.add_step(run_id, j.RESULT_STEP, j.result_payload(call, finished))
        self._journal.append(finished)
        self._emit(run_id, call, outcome.value, summarize(result.content, 200))

    def _spool(self, key: str) -> Path:
        return self._world.spool_dir / (re.sub(r"[^A-Za-z0-9_.-]", "_", key) + ".out")

    # -- approvals --------------------------------------------------------------------------------

    def _approval_states(
        self, run_id: str, ordinal: int, journal: Sequence[j.Entry]
    ) -> dict[str, j.ApprovalState]:
        store = self._world.approvals
        last = next((e for e in reversed(journal) if isinstance(e, j.ModelCalled)), None)
        if store is None or last is None:
            return {}
        states: dict[str, j.ApprovalState] = {}
        for call in last.calls:
            if call.name not in GATED:
                continue
            approval = store.for_call(call_key(run_id, ordinal, call.id))
            if approval is None:
                continue
            approval = store.current(approval)
            state = j.ApprovalState(approval.status.value)
            subject = approval_subject(call, cwd=self._world.workspace.root)
            if state is j.ApprovalState.APPROVED and approval.subject != subject:
                state = j.ApprovalState.DENIED  # answered for another input (e.g. the workspace moved)
            states[call.id] = state
        return states

    def _request(self, run_id: str, ordinal: int, calls: Sequence[j.ToolCall], session: str | None) -> None:
        store = self._world.approvals
        if store is None:
            for call in calls:  # nobody can be asked: deny, as OpenClaw does without a UI
                self._close(run_id, ordinal, call, j.Outcome.DENIED, "no one can approve tool calls here")
            return
        for call in calls:
            approval, _created = store.request(
                run_id=run_id,
                call_key=call_key(run_id, ordinal, call.id),
                tool=call.name,
                subject=approval_subject(call, cwd=self._world.workspace.root),
                timeout_s=self._world.tools.approval_timeout_s,
                session=session,
            )
            self._emit(run_id, call, "waiting_approval", f"approval {approval.id}")
            self._sink(
                ev.ApprovalRequested(
                    approval_id=approval.id,
                    run_id=run_id,
                    session=approval.session or self._session,
                    tool=call.name,
                    summary=summarize(approval_question(approval.subject), 200),
                    expires_at=approval.expires_at,
                )
            )

    async def _wait(self, run_id: str, ordinal: int, calls: Sequence[j.ToolCall]) -> None:
        store = self._world.approvals
        assert store is not None
        deadlines = []
        for call in calls:
            approval = store.for_call(call_key(run_id, ordinal, call.id))
            if approval is not None:
                deadlines.append(approval.expires_at)
        soonest = min(deadlines, default=self._world.now() + 1.0)
        await self._bell.wait(soonest - self._world.now() + 0.01)
        for call in calls:
            approval = store.for_call(call_key(run_id, ordinal, call.id))
            if approval is not None:
                approval = store.current(approval)
                if approval.status is ApprovalStatus.EXPIRED:  # answers are announced where given
                    self._sink(resolved_event(approval, self._session))

    def _emit(self, run_id: str, call: j.ToolCall, state: str, summary: str | None = None) -> None:
        self._sink(
            ev.RunTool(
                run_id=run_id,
                session=self._session,
                call_id=call.id,
                tool=call.name,
                state=state,
                summary=summary if summary is not None else summarize(call.input),
            )
        )


def resolved_event(approval: Approval, session: str = "") -> ev.ApprovalResolved:
    return ev.ApprovalResolved(
        approval_id=approval.id,
        run_id=approval.run_id,
        session=approval.session or session,
        decision=approval.status.value,
        by=approval.decided_by,
    )


def _end(journal: Sequence[j.Entry], text: str, *, stopped: str | None = None) -> LoopEnd:
    calls = [e for e in journal if isinstance(e, j.ModelCalled)]
    last = calls[-1] if calls else None
    return LoopEnd(
        text=text,
        stopped=stopped,
        model=last.model if last else None,
        profile=last.profile if last else None,
        fell_back=any(c.fell_back for c in calls),
        input_tokens=sum(c.input_tokens for c in calls),
        output_tokens=sum(c.output_tokens for c in calls),
        model_calls=len(calls),
    )


def _tail(path: Path, limit: int) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    text = data.decode("utf-8", "replace")
    return text if len(text) <= limit else "[...]\n" + text[-limit:]
