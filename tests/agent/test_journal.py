"""The pure decider, by tables: every journal a crash can leave has one next step."""

from __future__ import annotations

import pytest

from nexus.agent.journal import (
    ApprovalState,
    CallModel,
    Close,
    Finish,
    Judgement,
    Limits,
    ModelCalled,
    Outcome,
    RequestApproval,
    RunTools,
    Stop,
    ToolCall,
    ToolFinished,
    ToolStarted,
    Verdict,
    WaitApproval,
    decide,
    entry_from_step,
    input_hash,
    intent_payload,
    model_payload,
    result_payload,
)

LS = ToolCall("c1", "exec", {"command": "ls"})
CAT = ToolCall("c2", "read_file", {"path": "a"})
BAD = ToolCall("c3", "nope", {})


def run_all(call: ToolCall) -> Judgement:
    if call.name == "nope":
        return Judgement(Verdict.REFUSE, "unknown tool 'nope'")
    return Judgement(Verdict.RUN)


def ask_exec(call: ToolCall) -> Judgement:
    return Judgement(Verdict.ASK) if call.name == "exec" else run_all(call)


def started(call: ToolCall) -> ToolStarted:
    return ToolStarted(call.id, call.name, input_hash(call.name, call.input))


def done(call: ToolCall, content: str = "ok") -> ToolFinished:
    return ToolFinished(call.id, content, False, Outcome.DONE)


ASKED = ModelCalled("", (LS, CAT))


@pytest.mark.parametrize(
    ("journal", "judge", "approvals", "expected"),
    [
        ([], run_all, {}, CallModel()),
        ([ModelCalled("hello")], run_all, {}, Finish("hello")),
        ([ASKED], run_all, {}, RunTools((LS, CAT))),
        # one finished, one never started: only the second runs
        ([ASKED, started(LS), done(LS)], run_all, {}, RunTools((CAT,))),
        # both finished: back to the model, and nothing reruns
        ([ASKED, started(LS), started(CAT), done(LS), done(CAT)], run_all, {}, CallModel()),
        # a crash between start and result: interrupted, never rerun
        (
            [ASKED, started(LS), started(CAT), done(CAT)],
            run_all,
            {},
            Close(((LS, Outcome.INTERRUPTED, ""),)),
        ),
        ([ModelCalled("", (BAD,))], run_all, {}, Close(((BAD, Outcome.REFUSED, "unknown tool 'nope'"),))),
        # approvals: ask, wait, run, deny, expire; the read_file call runs meanwhile
        ([ASKED], ask_exec, {}, RunTools((CAT,))),
        ([ASKED, started(CAT), done(CAT)], ask_exec, {}, RequestApproval((LS,))),
        ([ASKED, started(CAT), done(CAT)], ask_exec, {"c1": ApprovalState.PENDING}, WaitApproval((LS,))),
        ([ASKED, started(CAT), done(CAT)], ask_exec, {"c1": ApprovalState.APPROVED}, RunTools((LS,))),
        (
            [ASKED, started(CAT), done(CAT)],
            ask_exec,
            {"c1": ApprovalState.DENIED},
            Close(((LS, Outcome.DENIED, "the owner denied this call"),)),
        ),
        (
            [ASKED, started(CAT), done(CAT)],
            ask_exec,
            {"c1": ApprovalState.EXPIRED},
            Close(((LS, Outcome.EXPIRED, "the owner did not answer the approval request in time"),)),
        ),
        # an approved call that crashed mid-run is still interrupted, not rerun
        (
            [ASKED, started(LS), done(CAT)],
            ask_exec,
            {"c1": ApprovalState.APPROVED},
            Close(((LS, Outcome.INTERRUPTED, ""),)),
        ),
    ],
)
def test_next_step(journal, judge, approvals, expected) -> None:
    assert decide(journal, limits=Limits(), elapsed_s=0, judge=judge, approvals=approvals) == expected


def test_calls_of_earlier_steps_do_not_count_as_pending() -> None:
    first = ModelCalled("", (ToolCall("c1", "read_file", {"path": "a"}),))
    second = ModelCalled("", (ToolCall("c1", "read_file", {"path": "b"}),))  # same id, a later step
    journal = [first, started(first.calls[0]), done(first.calls[0]), second]
    assert decide(journal, limits=Limits(), elapsed_s=0, judge=run_all) == RunTools(second.calls)


def _loop(n: int, content: str = "same") -> list:
    journal: list = []
    for _ in range(n):
        journal += [ModelCalled("", (LS,)), started(LS), done(LS, content)]
    return journal


@pytest.mark.parametrize(
    ("journal", "limits", "elapsed", "limit"),
    [
        (_loop(3), Limits(), 0, "repeats"),
        (
            [*_loop(2, "x"), ModelCalled("", (LS,)), started(LS), done(LS, "y")],
            Limits(max_steps=3),
            0,
            "max_steps",
        ),
        (
            [ModelCalled("", (LS,), input_tokens=900, output_tokens=200)],
            Limits(max_tokens=1000),
            0,
            "max_tokens",
        ),
        ([], Limits(max_run_s=10), 11, "max_run_s"),
        ([ModelCalled("", (LS,), cost_usd=2.5)], Limits(max_cost_usd=2.0), 0, "max_cost_usd"),
    ],
)
def test_limits_stop_the_run_with_a_sentence(journal, limits, elapsed, limit) -> None:
    decision = decide(journal, limits=limits, elapsed_s=elapsed, judge=run_all)
    assert isinstance(decision, Stop) and decision.limit == limit
    assert len(decision.reason) > 30


def test_two_repeats_or_different_results_go_on() -> None:
    assert decide(_loop(2), limits=Limits(), elapsed_s=0, judge=run_all) == CallModel()
    varied = _loop(1, "a") + _loop(1, "b") + _loop(1, "c")
    assert decide(varied, limits=Limits(), elapsed_s=0, judge=run_all) == CallModel()


def test_a_final_answer_finishes_even_at_the_limit() -> None:
    journal = [*_loop(2, "x"), ModelCalled("the answer", input_tokens=10**6)]
    assert decide(journal, limits=Limits(max_steps=3, max_tokens=5), elapsed_s=0, judge=run_all) == Finish(
        "the answer"
    )


def test_an_interrupted_call_is_reported_before_any_limit_stops_the_run() -> None:
    journal = [ModelCalled("", (LS,), input_tokens=10**6), started(LS)]
    decision = decide(journal, limits=Limits(max_tokens=5), elapsed_s=0, judge=run_all)
    assert decision == Close(((LS, Outcome.INTERRUPTED, ""),))


def test_steps_round_trip_and_damaged_steps_are_skipped() -> None:
    model = ModelCalled("t", (LS,), model="m", input_tokens=3, output_tokens=4, cost_usd=0.5)
    assert entry_from_step("model_call", model_payload(model)) == model
    intent = intent_payload(LS, side_effect="external", key="k")
    assert entry_from_step("tool_intent", intent) == started(LS)
    finished = ToolFinished("c1", "out", True, Outcome.INTERRUPTED)
    assert entry_from_step("tool_result", result_payload(LS, finished)) == finished
    assert entry_from_step("tool_result", {"content": "no id"}) is None
    assert entry_from_step("tool_result", {"call_id": "x", "outcome": "weird"}) is None
    assert entry_from_step("other", {}) is None
    # the answer step written before tools existed still reads as a final model call
    assert entry_from_step("model_call", {"text": "old answer", "model": "m"}) == ModelCalled(
        "old answer", model="m"
    )


def test_cost_estimate_from_prices() -> None:
    from nexus.agent.journal import estimate_cost
    from nexus.config.schema import ModelPrice

    prices = {"anthropic/claude-opus-4-5": ModelPrice(input=15, output=75)}
    assert estimate_cost("anthropic/claude-opus-4-5", 1_000_000, 100_000, prices) == 22.5
    assert estimate_cost("ollama/llama", 10**9, 10**9, prices) == 0.0
    assert estimate_cost(None, 1, 1, prices) == 0.0
