"""``nexus drill --live`` against a running install (a sandbox standing in for the real one): it
reports the chain, the credentials, the port owner and the backup age, and spends nothing: no model
request, no token refresh."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nexus.common import NexusPaths
from nexus.drill.sandbox import Sandbox

pytestmark = pytest.mark.timeout(180)


def test_live_probes_read_everything_and_spend_nothing(tmp_path: Path) -> None:
    owner = NexusPaths(home=tmp_path / "owner")
    owner.ensure()
    with Sandbox(owner, root=tmp_path / "box") as box:
        stale = box.nexus("drill", "--live", "--json")
        assert stale.returncode == 1, stale.stderr
        probes = {p["name"]: p for p in json.loads(stale.stdout)["probes"]}
        assert not probes["backup age"]["ok"] and "nexus backup create" in probes["backup age"]["detail"]

        assert box.nexus("backup", "create").returncode == 0
        models, refreshes = box.anthropic.count(), box.oauth.refreshes
        done = box.nexus("drill", "--live", "--json")
        probes = {p["name"]: p for p in json.loads(done.stdout)["probes"]}
        assert probes["readyz"]["ok"], probes
        assert probes["model anthropic/claude-opus-4-5"]["ok"]
        assert "anthropic:drill-oauth" in probes["model anthropic/claude-opus-4-5"]["detail"]
        assert probes["port owner"]["ok"], probes["port owner"]
        assert probes["profile anthropic:drill-oauth"]["detail"].startswith("can refresh")
        assert probes["backup age"]["ok"]
        assert box.anthropic.count() == models, "a live probe sent a request to a model"
        assert box.oauth.refreshes == refreshes, "a live probe spent a refresh token"
        assert "drill-long-lived-token" not in done.stdout and "sk-ant-ort" not in done.stdout
        text = box.nexus("drill", "--live")
        assert "ok   port owner" in text.stdout
