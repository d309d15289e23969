"""The run journal and the pure decider: given a run's committed steps, what happens next.

A run is a sequence of committed steps: a model call (its text and the tool calls it asked for), a
tool intent (committed *before* the tool runs), a tool result (committed after). The executor only
drives :func:`decide`: commit, run, commit, ask again. Because the intent is durable before any side
effect, a crash leaves one of three states per call, and each has one answer:

- result committed: the call is done and never runs again;
- intent without result: the call was running. It is reported to the model as interrupted, with the
  partial output it left, and never rerun silently (a resumed ``systemctl restart`` looped a host in
  Hermes#49201; OpenClaw PR#125209 reported an interrupted command as succeeded);
- neither: the call never started and runs now (after approval if the policy asks for one).

Limits end a run with a sentence instead of letting it loop: model calls (``max_steps``), tokens,
wall time, estimated cost, and the same (tool, input, result) ``max_repeats`` times.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

MODEL_STEP = "model_call"
INTENT_STEP = "tool_intent"
RESULT_STEP = "tool_result"


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    input: Any


@dataclass(frozen=True)
class ModelCalled:
    text: str
    calls: tuple[ToolCall, ...] = ()
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    profile: str | None = None
    fell_back: bool = False


@dataclass(frozen=True)
class ToolStarted:
    call_id: str
    name: str
    input_hash: str


class Outcome(StrEnum):
    DONE = "done"
    ERROR = "error"
    INTERRUPTED = "interrupted"
    DENIED = "denied"
    EXPIRED = "expired"
    REFUSED = "refused"
    """Never started: unknown tool, invalid input, outside the workspace, policy ``deny``."""


@dataclass(frozen=True)
class ToolFinished:
    call_id: str
    content: str
    is_error: bool
    outcome: Outcome


Entry = ModelCalled | ToolStarted | ToolFinished


class Verdict(StrEnum):
    RUN = "run"
    ASK = "ask"
    REFUSE = "refuse"


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reason: str = ""


class ApprovalState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Limits:
    max_steps: int = 25
    max_tokens: int = 400_000
    max_run_s: float = 1800.0
    max_cost_usd: float | None = None
    max_repeats: int = 3


# -- decisions ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallModel:
    pass


@dataclass(frozen=True)
class RunTools:
    calls: tuple[ToolCall, ...]


@dataclass(frozen=True)
class RequestApproval:
    calls: tuple[ToolCall, ...]


@dataclass(frozen=True)
class WaitApproval:
    calls: tuple[ToolCall, ...]


@dataclass(frozen=True)
class Close:
    """Commit these results without running anything (interrupted, denied, expired, refused)."""

    results: tuple[tuple[ToolCall, Outcome, str], ...]


@dataclass(frozen=True)
class Finish:
    text: str


@dataclass(frozen=True)
class Stop:
    reason: str
    limit: str


Decision = CallModel | RunTools | RequestApproval | WaitApproval | Close | Finish | Stop


@dataclass(frozen=True)
class Totals:
    model_calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    repeats: Mapping[tuple[str, str, str], int] = field(default_factory=dict)


def estimate_cost(
    model: str | None, input_tokens: int, output_tokens: int, prices: Mapping[str, Any]
) -> float:
    """USD for one model call from ``[agent.prices]`` (per million tokens); unknown models cost 0."""
    price = prices.get(model or "")
    if price is None:
        return 0.0
    return (input_tokens * price.input + output_tokens * price.output) / 1_000_000


def input_hash(name: str, value: Any) -> str:
    """A stable digest of (tool, input): what an approval is bound to and a repeat is counted by."""
    canonical = json.dumps([name, value], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def totals(journal: Sequence[Entry]) -> Totals:
    calls: dict[str, ToolCall] = {}
    hashes: dict[str, str] = {}
    model_calls = tokens = 0
    cost = 0.0
    repeats: Counter[tuple[str, str, str]] = Counter()
    for entry in journal:
        if isinstance(entry, ModelCalled):
            model_calls += 1
            tokens += entry.input_tokens + entry.output_tokens
            cost += entry.cost_usd
            calls = {c.id: c for c in entry.calls}
            hashes = {}
        elif isinstance(entry, ToolStarted):
            hashes[entry.call_id] = entry.input_hash  # hashed once, when the intent was committed
        elif isinstance(entry, ToolFinished) and entry.outcome in (Outcome.DONE, Outcome.ERROR):
            call = calls.get(entry.call_id)
            if call is not None:
                digest = hashes.get(call.id) or input_hash(call.name, call.input)
                repeats[(call.name, digest, entry.content)] += 1
    return Totals(model_calls=model_calls, tokens=tokens, cost_usd=cost, repeats=dict(repeats))


def decide(
    journal: Sequence[Entry],
    *,
    limits: Limits,
    elapsed_s: float,
    judge: Callable[[ToolCall], Judgement],
    approvals: Mapping[str, ApprovalState] | None = None,
) -> Decision:
    """The next step of a run. ``judge`` says whether a call may run, must be asked for, or is
    refused; ``approvals`` holds the approval state of the last model step's calls by call id."""
    approvals = approvals or {}
    last_model = max((i for i, e in enumerate(journal) if isinstance(e, ModelCalled)), default=None)
    if last_model is None:
        return _limit_stop(journal, limits, elapsed_s) or CallModel()
    model = journal[last_model]
    assert isinstance(model, ModelCalled)
    if not model.calls:
        return Finish(model.text)
    after = journal[last_model + 1 :]
    started = {e.call_id for e in after if isinstance(e, ToolStarted)}
    finished = {e.call_id for e in after if isinstance(e, ToolFinished)}
    interrupted = [c for c in model.calls if c.id in started and c.id not in finished]
    if interrupted:
        return Close(tuple((c, Outcome.INTERRUPTED, "") for c in interrupted))
    stop = _limit_stop(journal, limits, elapsed_s)
    if stop is not None:
        return stop
    closing: list[tuple[ToolCall, Outcome, str]] = []
    runnable: list[ToolCall] = []
    to_ask: list[ToolCall] = []
    waiting: list[ToolCall] = []
    for call in model.calls:
        if call.id in finished:
            continue
        judgement = judge(call)
        if judgement.verdict is Verdict.REFUSE:
            closing.append((call, Outcome.REFUSED, judgement.reason))
        elif judgement.verdict is Verdict.RUN:
            runnable.append(call)
        else:
            state = approvals.get(call.id)
            if state is None:
                to_ask.append(call)
            elif state is ApprovalState.PENDING:
                waiting.append(call)
            elif state is ApprovalState.APPROVED:
                runnable.append(call)
            elif state is ApprovalState.DENIED:
                closing.append((call, Outcome.DENIED, "the owner denied this call"))
            else:
                closing.append(
                    (call, Outcome.EXPIRED, "the owner did not answer the approval request in time")
                )
    if closing:
        return Close(tuple(closing))
    if runnable:
        return RunTools(tuple(runnable))
    if to_ask:
        return RequestApproval(tuple(to_ask))
    if waiting:
        return WaitApproval(tuple(waiting))
    return _limit_stop(journal, limits, elapsed_s, calling_model=True) or CallModel()


def _limit_stop(
    journal: Sequence[Entry], limits: Limits, elapsed_s: float, *, calling_model: bool = False
) -> Stop | None:
    seen = totals(journal)
    for (name, _digest, _content), count in seen.repeats.items():
        if count >= limits.max_repeats:
            return Stop(
                f"stopped: `{name}` was called {count} times with the same input and gave the same "
                "result each time; the assistant was going in circles",
                "repeats",
            )
    if calling_model and seen.model_calls >= limits.max_steps:
        return Stop(
            f"stopped after {seen.model_calls} model calls, the per-run limit ([agent] max_steps); "
            "send a new message to go on",
            "max_steps",
        )
    if seen.tokens >= limits.max_tokens:
        return Stop(
            f"stopped after {seen.tokens} tokens, over the per-run budget of {limits.max_tokens} "
            "([agent] max_tokens)",
            "max_tokens",
        )
    if elapsed_s >= limits.max_run_s:
        return Stop(
            f"stopped after {elapsed_s:.0f}s, the per-run wall-time limit ([agent] max_run_s)", "max_run_s"
        )
    if limits.max_cost_usd is not None and seen.cost_usd >= limits.max_cost_usd:
        return Stop(
            f"stopped at an estimated ${seen.cost_usd:.2f}, the per-run cost cap ([agent] max_cost_usd)",
            "max_cost_usd",
        )
    return None


# -- steps <-> entries ----------------------------------------------------------------------------


def entry_from_step(kind: str, payload: Mapping[str, Any]) -> Entry | None:
    """Decode one committed step; steps of other kinds (or damaged ones) are not journal entries."""
    try:
        if kind == MODEL_STEP:
            calls = tuple(
                ToolCall(id=str(c["id"]), name=str(c["name"]), input=c.get("input"))
                for c in payload.get("tool_calls") or ()
            )
            usage = payload.get("usage") or {}
            return ModelCalled(
                text=str(payload.get("text") or ""),
                calls=calls,
                model=payload.get("model"),
                input_tokens=int(usage.get("input_tokens") or 0),
                output_tokens=int(usage.get("output_tokens") or 0),
                cost_usd=float(payload.get("cost_usd") or 0.0),
                profile=payload.get("profile"),
                fell_back=bool(payload.get("fell_back")),
            )
        if kind == INTENT_STEP:
            return ToolStarted(
                call_id=str(payload["call_id"]),
                name=str(payload["name"]),
                input_hash=str(payload["input_hash"]),
            )
        if kind == RESULT_STEP:
            return ToolFinished(
                call_id=str(payload["call_id"]),
                content=str(payload.get("content") or ""),
                is_error=bool(payload.get("is_error")),
                outcome=Outcome(payload.get("outcome", "done")),
            )
    except (KeyError, TypeError, ValueError):
        return None
    return None


def model_payload(entry: ModelCalled, **extra: Any) -> dict[str, Any]:
    return {
        "text": entry.text,
        "tool_calls": [{"id": c.id, "name": c.name, "input": c.input} for c in entry.calls],
        "model": entry.model,
        "usage": {"input_tokens": entry.input_tokens, "output_tokens": entry.output_tokens},
        "cost_usd": entry.cost_usd,
        "profile": entry.profile,
        "fell_back": entry.fell_back,
        **extra,
    }


def intent_payload(call: ToolCall, *, side_effect: str, key: str) -> dict[str, Any]:
    return {
        "call_id": call.id,
        "name": call.name,
        "input": call.input,
        "input_hash": input_hash(call.name, call.input),
        "side_effect": side_effect,
        "key": key,
    }


def result_payload(call: ToolCall, finished: ToolFinished) -> dict[str, Any]:
    return {
        "call_id": call.id,
        "name": call.name,
        "content": finished.content,
        "is_error": finished.is_error,
        "outcome": finished.outcome.value,
    }
