"""The durable inbox: acceptance, idempotency, life cycle, crash recovery, damaged rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from nexus.store import RunStatus, RunStore, StoreError, open_database
from nexus.store.runs import InvalidRunTransition


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(open_database(tmp_path / "state.db"))


def test_accept_commits_before_returning(tmp_path: Path) -> None:
    store = RunStore(open_database(tmp_path / "state.db"))
    run, created = store.accept(session="s", text="hello", sender="me")
    assert created
    # a second, independent connection sees the committed row: nothing is held in memory
    other = RunStore(open_database(tmp_path / "state.db"))
    seen = other.get(run.id)
    assert seen is not None
    assert seen.status is RunStatus.QUEUED
    assert seen.message == "hello"


def test_same_idempotency_key_returns_same_run(store: RunStore) -> None:
    first, created1 = store.accept(session="s", text="hi", idempotency_key="k1")
    again, created2 = store.accept(session="s", text="hi", idempotency_key="k1")
    other_session, created3 = store.accept(session="t", text="hi", idempotency_key="k1")
    assert created1 and not created2 and created3
    assert again.id == first.id
    assert other_session.id != first.id
    assert store.queue_depth() == 2


def test_life_cycle_and_history(store: RunStore) -> None:
    a, _ = store.accept(session="s", text="one")
    b, _ = store.accept(session="s", text="two")
    store.claim(a.id)
    store.finish(a.id, answer="answer one", model="anthropic/m")
    history = store.history("s", before_seq=b.seq, turns=10)
    assert [(r.message, r.answer) for r in history] == [("one", "answer one")]
    assert store.ahead_of(b) == 0
    with pytest.raises(InvalidRunTransition):
        store.finish(a.id, answer="again", model=None)
    with pytest.raises(InvalidRunTransition):
        store.finish(b.id, answer="never claimed", model=None)


def test_recover_requeues_then_fails_after_max_attempts(store: RunStore) -> None:
    run, _ = store.accept(session="s", text="x")
    store.claim(run.id)
    resumable, failed = store.recover(max_attempts=2)
    assert [r.id for r in resumable] == [run.id] and failed == []
    assert store.get(run.id).status is RunStatus.QUEUED  # type: ignore[union-attr]
    store.claim(run.id)
    resumable, failed = store.recover(max_attempts=2)
    assert resumable == []
    assert [r.id for r in failed] == [run.id]
    final = store.get(run.id)
    assert final is not None and final.status is RunStatus.FAILED
    assert "stopped 2 times" in (final.error or "")


def test_steps_are_ordered_and_a_bad_payload_is_skipped(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "state.db")
    store = RunStore(conn)
    run, _ = store.accept(session="s", text="x")
    store.add_step(run.id, "model_call", {"text": "a"})
    store.add_step(run.id, "model_call", {"text": "b"})
    conn.execute("UPDATE run_steps SET payload = '{not json' WHERE idx = 0")
    steps = store.steps(run.id)
    assert [(s.idx, s.payload) for s in steps] == [(1, {"text": "b"})]


def test_one_unreadable_row_never_wipes_a_session(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "state.db")
    store = RunStore(conn)
    ids = []
    for text in ("first", "second", "third"):
        run, _ = store.accept(session="s", text=text)
        store.claim(run.id)
        store.finish(run.id, answer=f"re {text}", model="m")
        ids.append(run.id)
    # invalid UTF-8 in the middle row, as a damaged write would leave it
    conn.execute("UPDATE runs SET text = CAST(x'fffe41' AS TEXT) WHERE id = ?", (ids[1],))
    runs = store.session_runs("s")
    assert [r.answer for r in runs] == ["re first", "re second", "re third"]
    assert runs[1].message.endswith("A")


def test_corrupt_database_file_names_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError) as info:
        open_database(path)
    assert str(path) in str(info.value) and "mv" in str(info.value)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    open_database(path).close()
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA user_version=999")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="newer"):
        open_database(path)


def test_database_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    open_database(path).close()
    assert path.stat().st_mode & 0o777 == 0o600


def test_finish_commits_the_step_and_the_answer_together(store: RunStore) -> None:
    run, _ = store.accept(session="s", text="x")
    store.claim(run.id)
    done = store.finish(run.id, answer="a", model="m", step=("model_call", {"text": "a"}))
    assert done.status is RunStatus.DONE
    assert [(s.kind, s.payload) for s in store.steps(run.id)] == [("model_call", {"text": "a"})]
    with pytest.raises(InvalidRunTransition):
        store.finish(run.id, answer="b", model="m", step=("model_call", {"text": "b"}))
    assert len(store.steps(run.id)) == 1  # the refused finish rolled its step back
