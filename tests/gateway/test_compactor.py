"""Long sessions are compacted by summary before the turn would overflow; the runs stay."""

from __future__ import annotations

from pathlib import Path

from nexus.gateway.compactor import SUMMARY_HEADER, Compactor, system_with_summary
from nexus.memory import runs_to_compact
from nexus.models.turn import TurnFailed
from nexus.store import RunStore, open_database
from nexus.store.memory import MemoryStore
from tests.gateway.conftest import ScriptedRouter


def test_plan_folds_just_enough_oldest_runs_and_keeps_the_latest() -> None:
    assert runs_to_compact([10, 10, 10], budget_chars=30, keep_turns=1) == 0
    assert runs_to_compact([50, 10, 10, 10], budget_chars=30, keep_turns=1) == 1
    assert runs_to_compact([50, 50, 50, 50], budget_chars=30, keep_turns=2) == 2  # never the latest two


def session(tmp_path: Path, count: int) -> tuple[RunStore, MemoryStore]:
    conn = open_database(tmp_path / "s.db")
    runs = RunStore(conn)
    for i in range(count):
        run, _ = runs.accept(session="long", text=f"question {i} " + "q" * 200)
        runs.claim(run.id)
        runs.finish(run.id, answer=f"answer {i} " + "a" * 200, model="m/x")
    return runs, MemoryStore(conn)


async def test_a_long_session_is_summarised_once_and_the_runs_are_kept(tmp_path: Path) -> None:
    runs, memory = session(tmp_path, 12)
    router = ScriptedRouter()
    router.script.append("They talked about twelve questions.")
    compactor = Compactor(
        store=runs, memory=memory, router=router, turns=40, budget_chars=2_000, keep_turns=3
    )
    current, _ = runs.accept(session="long", text="and now?")
    context = await compactor.context(current)
    assert context.summary == "They talked about twelve questions."
    assert [r.message.split()[1] for r in context.history][-1] == "11" and len(context.history) <= 4
    (request,) = router.calls
    assert "question 0" in request.messages[0].content and "Summarise" in request.messages[0].content
    assert len(runs.session_runs("long", limit=100)) == 13  # originals kept in the journal
    again = await compactor.context(current)
    assert again.summary == context.summary and len(router.calls) == 1  # fits now: no second summary
    assert system_with_summary("persona", again.summary) == f"persona\n\n{SUMMARY_HEADER}\n{again.summary}"


async def test_a_failed_summary_leaves_the_oldest_runs_out_instead_of_failing(tmp_path: Path) -> None:
    runs, memory = session(tmp_path, 12)
    router = ScriptedRouter()
    router.script.append(TurnFailed("every model failed"))
    compactor = Compactor(
        store=runs, memory=memory, router=router, turns=40, budget_chars=2_000, keep_turns=3
    )
    current, _ = runs.accept(session="long", text="and now?")
    context = await compactor.context(current)
    assert (
        context.summary is None
        and sum(len(r.message) + len(r.answer or "") for r in context.history) <= 2_000
    )
    assert memory.latest_summary("long", before_seq=current.seq) is None
