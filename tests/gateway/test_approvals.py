"""Approvals through a real gateway process and the real CLI: listed, answered, and still there after
a kill -9 under the same id."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from nexus.common.paths import NexusPaths
from nexus.store import open_database
from nexus.store.approvals import ApprovalStore
from tests.gateway_process import GatewayProcess


def _cli(gw: GatewayProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**gw.environment(), "NEXUS_PORT": str(gw.port)}
    return subprocess.run(
        [sys.executable, "-m", "nexus", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_approvals_survive_a_crash_and_are_answered_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    paths = NexusPaths(home=home)
    paths.ensure()
    conn = open_database(paths.state_db)
    store = ApprovalStore(conn)
    push, _ = store.request(
        run_id="run_a",
        call_key="run_a:1:c1",
        tool="exec",
        subject={"command": "git push", "cwd": "/w"},
        timeout_s=600,
        session="s",
    )
    wipe, _ = store.request(
        run_id="run_a",
        call_key="run_a:1:c2",
        tool="exec",
        subject={"command": "rm -rf build", "cwd": "/w"},
        timeout_s=600,
        session="s",
    )
    conn.close()
    with GatewayProcess(home) as gw:
        listed = _cli(gw, "approvals")
        assert listed.returncode == 0, listed.stderr
        assert (
            push.id in listed.stdout
            and "to run `git push` in" in listed.stdout
            and "nexus approve ID" in listed.stdout
        )
        rows = json.loads(_cli(gw, "approvals", "--json").stdout)
        assert [r["id"] for r in rows] == [push.id, wipe.id]

        approved = _cli(gw, "approve", push.id)
        assert approved.returncode == 0, approved.stderr
        assert f"{push.id}: approved (to run `git push` in /w)" in approved.stdout

        gw.restart()  # kill -9 and start again: the rows and their ids are still there
        after = json.loads(_cli(gw, "approvals", "--all", "--json").stdout)
        assert {r["id"]: r["status"] for r in after} == {push.id: "approved", wipe.id: "pending"}

        denied = _cli(gw, "deny", wipe.id)
        assert denied.returncode == 0 and "denied (to run `rm -rf build` in /w)" in denied.stdout
        again = _cli(gw, "approve", wipe.id)
        assert again.returncode == 1 and "already denied" in again.stderr
        unknown = _cli(gw, "deny", "apr_nothing")
        assert unknown.returncode == 1 and "no approval apr_nothing" in unknown.stderr
        assert "no tool call is waiting" in _cli(gw, "approvals").stdout

        with httpx.Client(base_url=gw.base_url, trust_env=False) as client:
            assert client.get("/api/approvals").status_code == 401
            assert client.post(f"/api/approvals/{push.id}/approve").status_code == 401
