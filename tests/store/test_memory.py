"""Memory search across sessions (FTS5, trigram): CJK, short terms, indexed in the committing
transaction, the active session included."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from nexus.store import RunStore, open_database
from nexus.store.memory import MemoryStore


@pytest.fixture
def stores(tmp_path: Path) -> tuple[RunStore, MemoryStore]:
    conn = open_database(tmp_path / "state.db")
    return RunStore(conn), MemoryStore(conn)


def answered(runs: RunStore, session: str, text: str, answer: str) -> str:
    run, _ = runs.accept(session=session, text=text)
    runs.claim(run.id)
    runs.finish(run.id, answer=answer, model="m/x")
    return run.id


def test_finds_text_across_sessions_with_session_time_and_snippet(
    stores: tuple[RunStore, MemoryStore],
) -> None:
    runs, memory = stores
    answered(runs, "telegram:1", "my dentist appointment is on Tuesday", "Noted: dentist on Tuesday.")
    answered(runs, "cli:work", "book the flight to Lisbon", "Booked the Lisbon flight.")
    hits = memory.search("dentist tuesday")
    assert {h.session for h in hits} == {"telegram:1"} and {h.role for h in hits} == {"user", "assistant"}
    assert all("[" in h.snippet and h.created_at > 0 for h in hits)
    assert [h.session for h in memory.search("LISBON")] == ["cli:work", "cli:work"]  # case-insensitive
    assert memory.search("nowhere to be found") == []
    assert memory.search("   ") == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [("东京看樱花", "zh"), ("桜は", "ja"), ("東京", "zh+ja"), ("綺麗です", "ja"), ("明天", "zh")],
)
def test_chinese_and_japanese_are_found(
    stores: tuple[RunStore, MemoryStore], query: str, expected: str
) -> None:
    runs, memory = stores
    answered(runs, "zh", "我们明天去東京看樱花", "好的")
    answered(runs, "ja", "東京の桜は綺麗ですね", "はい")
    answered(runs, "ja", "東京の桜は綺麗ですね", "はい")
    answered(runs, "zh", "我们明天去东京看樱花", "好的")
    found = {h.session for h in memory.search(query)}
    assert found == set(expected.split("+"))


def test_the_active_session_is_searchable_the_moment_its_message_commits(
    stores: tuple[RunStore, MemoryStore],
) -> None:
    runs, memory = stores
    run, _ = runs.accept(session="live", text="remember the parking spot is B7 level minus two")
    assert [h.run_id for h in memory.search("parking spot")] == [run.id]  # before any answer


def test_the_index_rolls_back_with_the_run(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "state.db")
    memory = MemoryStore(conn)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO runs (id, seq, session, channel, text, status, created_at)"
        " VALUES ('r1', 1, 's', 'api', 'a message that never committed', 'queued', 1)"
    )
    assert memory.search("never committed")  # visible inside the transaction
    conn.execute("ROLLBACK")
    assert memory.search("never committed") == []


def test_quotes_and_operators_in_queries_are_plain_text(stores: tuple[RunStore, MemoryStore]) -> None:
    runs, memory = stores
    answered(runs, "s", 'he said "OR NOT" AND left', "ok")
    assert [h.session for h in memory.search('"OR NOT" AND')] == ["s"]
    assert memory.search("NEAR(") == []


def test_limit_is_bounded_and_recent_first_for_substring_matches(
    stores: tuple[RunStore, MemoryStore],
) -> None:
    runs, memory = stores
    for i in range(60):
        runs.accept(session=f"s{i}", text=f"item {i} ok")
    assert len(memory.search("ok", limit=500)) == 50
    assert memory.search("ok", limit=3)[0].session == "s59"


def test_existing_runs_are_indexed_by_the_migration(tmp_path: Path) -> None:
    from nexus.store.db import MIGRATIONS, _split

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:2]:
        for statement in _split(script):
            conn.execute(statement)
    conn.execute("PRAGMA user_version=2")
    conn.execute(
        "INSERT INTO runs (id, seq, session, channel, text, status, answer, created_at)"
        " VALUES ('old', 1, 'past', 'api', 'an old question about zebras', 'done', 'stripes', 1)"
    )
    conn.close()
    memory = MemoryStore(open_database(path))
    assert [h.role for h in memory.search("zebras")] == ["user"]
    assert [h.role for h in memory.search("stripes")] == ["assistant"]


def test_tool_results_that_succeeded_are_indexed_but_not_errors_or_searches(
    stores: tuple[RunStore, MemoryStore],
) -> None:
    runs, memory = stores
    run, _ = runs.accept(session="s", text="look it up")

    def result(name: str, content: str, *, is_error: bool = False) -> None:
        payload = {"call_id": name, "name": name, "content": content, "is_error": is_error, "outcome": "done"}
        runs.add_step(run.id, "tool_result", payload)

    result("read_file", "the boiler code is 4711 zebra")
    result("exec", "zebra crossing failed", is_error=True)
    result("memory_search", '{"results": [{"snippet": "zebra"}]}')
    runs.add_step(run.id, "tool_intent", {"name": "exec", "input": {"command": "zebra"}})
    (hit,) = memory.search("zebra")
    assert (hit.role, hit.session, hit.run_id) == ("tool", "s", run.id) and "[zebra]" in hit.snippet


def test_tool_results_from_before_the_index_are_indexed_by_the_migration(tmp_path: Path) -> None:
    from nexus.store.db import MIGRATIONS

    path = tmp_path / "s.db"
    runs = RunStore(open_database(path))
    run, _ = runs.accept(session="old", text="hi")
    runs.add_step(run.id, "tool_result", {"name": "web_fetch", "content": "quokka facts", "is_error": False})
    conn = runs.conn
    conn.execute("DROP TRIGGER steps_memory_tool")
    conn.execute("DELETE FROM memory_fts WHERE role = 'tool'")
    conn.execute(f"PRAGMA user_version={len(MIGRATIONS) - 1}")  # as before the tool-results migration
    conn.close()
    (hit,) = MemoryStore(open_database(path)).search("quokka")
    assert hit.role == "tool" and hit.session == "old"
