"""The tool loop over a real state database: commit order, parallel calls, approvals, abort, resume."""

from __future__ import annotations

import asyncio
import time

import pytest

from nexus.agent import journal as j
from nexus.agent.loop import ABORT, ApprovalBell, ToolLoop, call_key, load_journal
from nexus.common.paths import NexusPaths
from nexus.config.schema import AgentConfig, ToolsConfig
from nexus.protocol import events as ev
from nexus.store import RunStore
from nexus.store.approvals import ApprovalStatus
from tests.agent.conftest import make_world
from tests.agent.scripted import ScriptedModel


def _run(store: RunStore) -> str:
    run, _ = store.accept(session="s", text="do things")
    store.claim(run.id)
    return run.id


async def test_parallel_calls_then_answer(paths: NexusPaths, store: RunStore) -> None:
    run_id = _run(store)
    write = j.ToolCall("w1", "write_file", {"path": "a.txt", "content": "hello"})
    listing = j.ToolCall("l1", "list_dir", {"path": "."})
    bad = j.ToolCall("x1", "format_disk", {})
    model = ScriptedModel.of(
        j.ModelCalled("", (write, listing, bad), model="m", input_tokens=10, output_tokens=5),
        j.ModelCalled("wrote it", model="m"),
    )
    events: list = []
    end = await ToolLoop(store=store, world=make_world(paths, store), sink=events.append).run(
        run_id, model=model, started_at=time.time()
    )
    assert end.text == "wrote it" and end.stopped is None and end.model == "m"
    kinds = [s.kind for s in store.steps(run_id)]
    # the refused call is closed first; then both intents are durable before either tool's result
    assert kinds == [
        "model_call",
        "tool_result",
        "tool_intent",
        "tool_intent",
        "tool_result",
        "tool_result",
        "model_call",
    ]
    results = {r.call_id: r for r in model.results()}
    assert results["w1"].content == "wrote 5 bytes to a.txt" and not results["w1"].is_error
    assert (
        results["x1"].outcome is j.Outcome.REFUSED and "unknown tool 'format_disk'" in results["x1"].content
    )
    assert results["x1"].is_error
    assert (paths.workspace / "a.txt").read_text() == "hello"
    states = [(e.tool, e.state) for e in events if isinstance(e, ev.RunTool)]
    assert ("write_file", "started") in states and ("write_file", "done") in states


async def test_refused_calls_are_closed_without_an_intent(paths: NexusPaths, store: RunStore) -> None:
    run_id = _run(store)
    model = ScriptedModel.of(j.ModelCalled("", (j.ToolCall("x", "nope", {}),)))
    await ToolLoop(store=store, world=make_world(paths, store)).run(
        run_id, model=model, started_at=time.time()
    )
    assert [s.kind for s in store.steps(run_id)] == ["model_call", "tool_result", "model_call"]


async def test_resume_reports_the_interrupted_call_and_never_reruns_finished_ones(
    paths: NexusPaths, store: RunStore
) -> None:
    run_id = _run(store)
    counter = paths.workspace / "count"
    first = j.ToolCall("e1", "exec", {"command": f"echo once >> {counter}"})
    second = j.ToolCall("e2", "exec", {"command": "echo partial; sleep 60"})
    # the journal a crash left: both intents, only the first result, and the second's spool
    store.add_step(run_id, j.MODEL_STEP, j.model_payload(j.ModelCalled("", (first, second))))
    for call in (first, second):
        store.add_step(run_id, j.INTENT_STEP, j.intent_payload(call, side_effect="external", key="k"))
    counter.write_text("once\n")
    store.add_step(
        run_id,
        j.RESULT_STEP,
        j.result_payload(first, j.ToolFinished("e1", "exit code 0", False, j.Outcome.DONE)),
    )
    world = make_world(paths, store)
    spool = world.spool_dir / (call_key(run_id, 1, "e2").replace(":", "_") + ".out")
    spool.parent.mkdir(parents=True, exist_ok=True)
    spool.write_text("partial\n")
    model = ScriptedModel.of(j.ModelCalled("I will check before retrying"))
    end = await ToolLoop(store=store, world=world).run(run_id, model=model, started_at=time.time())
    assert end.text == "I will check before retrying"
    (done, interrupted) = model.results()
    assert done.call_id == "e1" and done.outcome is j.Outcome.DONE
    assert interrupted.call_id == "e2" and interrupted.outcome is j.Outcome.INTERRUPTED
    assert "UNKNOWN" in interrupted.content and "partial" in interrupted.content
    assert counter.read_text() == "once\n"  # the finished call was not run again
    assert not spool.exists()


async def test_approval_flow_ask_wait_approve(paths: NexusPaths, store: RunStore) -> None:
    run_id = _run(store)
    world = make_world(paths, store, tools=ToolsConfig(exec="ask"))
    bell = ApprovalBell()
    events: list = []
    call = j.ToolCall("e1", "exec", {"command": "echo approved-run"})
    model = ScriptedModel.of(j.ModelCalled("", (call,)), j.ModelCalled("ok"))
    task = asyncio.create_task(
        ToolLoop(store=store, world=world, bell=bell, sink=events.append).run(
            run_id, model=model, started_at=time.time(), session="s"
        )
    )
    approvals = world.approvals
    assert approvals is not None
    for _ in range(500):
        if approvals.pending():
            break
        await asyncio.sleep(0.01)
    (pending,) = approvals.pending()
    assert pending.subject == {"command": "echo approved-run", "cwd": str(world.workspace.root)}
    assert pending.session == "s"
    assert not task.done()
    approvals.decide(pending.id, approve=True, by="test")
    bell.ring()
    end = await asyncio.wait_for(task, 10)
    assert end.text == "ok"
    (result,) = model.results()
    assert result.content.startswith("exit code 0\napproved-run")
    names = [type(e).__name__ for e in events]
    assert "ApprovalRequested" in names


@pytest.mark.parametrize("how", ["deny", "expire"])
async def test_denied_or_expired_calls_are_told_to_the_model(
    paths: NexusPaths, store: RunStore, how: str
) -> None:
    run_id = _run(store)
    timeout = 0.2 if how == "expire" else 60
    world = make_world(paths, store, tools=ToolsConfig(exec="ask", approval_timeout_s=timeout))
    bell = ApprovalBell()
    marker = paths.workspace / "ran"
    model = ScriptedModel.of(j.ModelCalled("", (j.ToolCall("e1", "exec", {"command": f"touch {marker}"}),)))
    events: list = []
    task = asyncio.create_task(
        ToolLoop(store=store, world=world, bell=bell, sink=events.append).run(
            run_id, model=model, started_at=time.time(), session="s"
        )
    )
    assert world.approvals is not None
    if how == "deny":
        for _ in range(500):
            if world.approvals.pending():
                break
            await asyncio.sleep(0.01)
        world.approvals.decide(world.approvals.pending()[0].id, approve=False, by="test")
        bell.ring()
    await asyncio.wait_for(task, 10)
    (result,) = model.results()
    assert result.is_error and result.outcome is (j.Outcome.DENIED if how == "deny" else j.Outcome.EXPIRED)
    assert not marker.exists()
    approval = world.approvals.for_call(call_key(run_id, 1, "e1"))
    assert approval is not None
    assert approval.status is (ApprovalStatus.DENIED if how == "deny" else ApprovalStatus.EXPIRED)
    resolved = [e for e in events if isinstance(e, ev.ApprovalResolved)]
    if how == "expire":  # nobody answered, so the loop itself announces the end
        assert [(e.decision, e.session) for e in resolved] == [("expired", "s")]
    asked = next(e for e in events if isinstance(e, ev.ApprovalRequested))
    assert asked.session == "s" and asked.tool == "exec" and "touch" in asked.summary


async def test_abort_mid_tool_commits_the_interruption(paths: NexusPaths, store: RunStore) -> None:
    run_id = _run(store)
    model = ScriptedModel.of(
        j.ModelCalled("", (j.ToolCall("e1", "exec", {"command": "echo going; sleep 60"}),))
    )
    task = asyncio.create_task(
        ToolLoop(store=store, world=make_world(paths, store)).run(run_id, model=model, started_at=time.time())
    )
    for _ in range(500):
        if any(s.kind == "tool_intent" for s in store.steps(run_id)):
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    task.cancel(ABORT)
    with pytest.raises(asyncio.CancelledError):
        await task
    last = load_journal(store, run_id)[-1]
    assert isinstance(last, j.ToolFinished) and last.outcome is j.Outcome.INTERRUPTED
    assert last.content == "aborted by the user"


async def test_an_orderly_stop_leaves_the_call_open_for_the_resumed_run(
    paths: NexusPaths, store: RunStore
) -> None:
    run_id = _run(store)
    model = ScriptedModel.of(
        j.ModelCalled("", (j.ToolCall("e1", "exec", {"command": "echo going; sleep 60"}),))
    )
    world = make_world(paths, store)
    task = asyncio.create_task(
        ToolLoop(store=store, world=world).run(run_id, model=model, started_at=time.time())
    )
    for _ in range(500):
        if list(world.spool_dir.glob("*.out")) and "going" in next(world.spool_dir.glob("*.out")).read_text():
            break
        await asyncio.sleep(0.01)
    task.cancel()  # the gateway stops: no message
    with pytest.raises(asyncio.CancelledError):
        await task
    assert isinstance(load_journal(store, run_id)[-1], j.ToolStarted)
    resumed = ScriptedModel.of(j.ModelCalled("ok"))
    await ToolLoop(store=store, world=world).run(run_id, model=resumed, started_at=time.time())
    (result,) = resumed.results()
    assert result.outcome is j.Outcome.INTERRUPTED and "going" in result.content


async def test_a_loop_of_identical_calls_is_stopped(paths: NexusPaths, store: RunStore) -> None:
    run_id = _run(store)
    same = j.ModelCalled("", (j.ToolCall("r", "list_dir", {"path": "."}),))
    model = ScriptedModel.of(*[same] * 10)
    end = await ToolLoop(store=store, world=make_world(paths, store)).run(
        run_id, model=model, started_at=time.time()
    )
    assert end.stopped == "repeats" and "going in circles" in end.text
    assert len(model.seen) == 3


async def test_max_steps_stops_the_run(paths: NexusPaths, store: RunStore) -> None:
    run_id = _run(store)
    calls = [
        j.ModelCalled("", (j.ToolCall(f"c{i}", "write_file", {"path": "f", "content": str(i)}),))
        for i in range(9)
    ]
    model = ScriptedModel.of(*calls)
    world = make_world(paths, store, agent=AgentConfig(max_steps=4))
    end = await ToolLoop(store=store, world=world).run(run_id, model=model, started_at=time.time())
    assert end.stopped == "max_steps" and "[agent] max_steps" in end.text
    assert len(model.seen) == 4


async def test_client_tools_end_the_run_at_the_call_and_a_resume_never_asks_again(
    paths: NexusPaths, store: RunStore
) -> None:
    run_id = _run(store)
    call = j.ToolCall("c1", "write_file", {"path": "a.txt", "content": "x"})  # a name Nexus also has
    loop = ToolLoop(store=store, world=make_world(paths, store))
    model = ScriptedModel.of(j.ModelCalled("let me", (call,), model="m"))
    end = await loop.run(run_id, model=model, started_at=time.time(), client_tools=True)
    assert (end.text, end.model_calls) == ("let me", 1)
    assert [s.kind for s in store.steps(run_id)] == ["model_call"], "Nexus ran none of the client's tools"
    assert not (paths.workspace / "a.txt").exists()
    # the crash came after the commit: the resumed run ends at the same call without a model call
    again = await loop.run(run_id, model=ScriptedModel.of(), started_at=time.time(), client_tools=True)
    assert (again.text, again.model_calls) == ("let me", 1)
    assert [s.kind for s in store.steps(run_id)] == ["model_call"]
