"""A backup taken while a real gateway accepts 200 messages is consistent, restores, and a fresh
``nexus up`` on the restored home answers every one of them exactly once."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

import httpx

from nexus.common import NexusPaths
from nexus.config import NexusConfig
from nexus.fakes.anthropic_server import FakeAnthropic
from nexus.ops.backup import create_backup, restore_archive, verify_archive
from tests.gateway_process import GatewayProcess, free_port
from tests.ops.test_backup import nexus
from tests.supervisor.conftest import wait_until

MESSAGES = 200


def runs_by_status(db: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
        return dict(conn.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall())


def test_backup_during_200_writes_restores_and_starts_with_all_of_them(
    tmp_path: Path, fake_anthropic: FakeAnthropic
) -> None:
    env = {
        "ANTHROPIC_BASE_URL": fake_anthropic.base_url,
        "ANTHROPIC_API_KEY": "test-key",
        "NEXUS_LOCK_DIR": str(tmp_path / "locks"),
    }
    home = tmp_path / "home"
    paths = NexusPaths(home=home)
    sent: list[str] = []
    with GatewayProcess(home, env=env) as gw:
        headers = {"Authorization": f"Bearer {gw.token}"}

        def write() -> None:
            with httpx.Client(base_url=gw.base_url, headers=headers, trust_env=False, timeout=10) as client:
                for i in range(MESSAGES):
                    body = {"session": f"s{i % 7}", "text": f"message {i}", "idempotency_key": f"k{i}"}
                    assert client.post("/api/messages", json=body).status_code == 202
                    sent.append(body["text"])

        writer = threading.Thread(target=write)
        writer.start()
        wait_until(lambda: len(sent) >= 20, timeout=20, what="the first messages")
        during = []
        while writer.is_alive():  # archives taken while the gateway commits runs and answers
            during.append(create_backup(paths, NexusConfig(), to=tmp_path / "during"))
        writer.join()
        assert len(sent) == MESSAGES
        partial = [c.manifest.facts["runs_rows"] for c in during]
        assert any(0 < n < MESSAGES for n in partial), f"no backup overlapped the writes: {partial}"
        for created in during:
            verify_archive(created.path)  # each one whole and integrity-checked, whatever its moment
        final = nexus(home, "backup", "create", "--to", str(tmp_path / "final"))
        assert final.returncode == 0, final.stderr
    archive = Path(final.stdout.split()[1])
    assert "runs_rows: 200" in final.stdout

    restored = restore_archive(archive, tmp_path / "restored").home
    port = free_port()
    up_env = {**env, "NEXUS_PORT": str(port)}
    answered_before = fake_anthropic.count()
    started = nexus(restored, "up", "--background", env=up_env)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        wait_until(
            lambda: runs_by_status(restored / "state.db") == {"done": MESSAGES},
            timeout=60,
            what="every restored message answered",
        )
        with contextlib.closing(sqlite3.connect(restored / "state.db")) as conn:
            texts = sorted(row[0] for row in conn.execute("SELECT text FROM runs"))
            answers = [row[0] for row in conn.execute("SELECT answer FROM runs ORDER BY seq")]
        assert texts == sorted(sent)
        assert all(a and a.startswith("echo: message ") for a in answers)
        asked = [r for r in fake_anthropic.requests[answered_before:]]
        asked_texts = [str(r.body["messages"][-1]["content"]) for r in asked]
        assert len(asked_texts) == len(set(asked_texts)), "a message was answered twice"
    finally:
        stopped = nexus(restored, "down", env=up_env)
        assert stopped.returncode == 0, stopped.stderr
