"""`nexus gateway run` as a real process: refusals exit with a named cause, and 78 for config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run_gateway(home: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("NEXUS_", "LISTEN_", "NOTIFY_"))}
    environ.update({"NEXUS_HOME": str(home), **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "nexus", "gateway", "run", "--port", "0"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ('[gateway]\nport = "abc"\n', "gateway.port"),
        ("[models]\nfalbacks = []\n", "models.falbacks: unknown key"),
        ('[tools]\nexec = "sometimes"\n', "tools.exec"),
        ("[agent]\nmax_steps = 0\n", "agent.max_steps"),
    ],
)
def test_config_error_exits_78_naming_the_key(tmp_path: Path, toml: str, named: str) -> None:
    tmp_path.joinpath("nexus.toml").write_text(toml)
    result = run_gateway(tmp_path)
    assert result.returncode == 78, result.stderr
    assert named in result.stderr
    assert str(tmp_path / "nexus.toml") in result.stderr
    record = json.loads((tmp_path / "run" / "gateway-last-error.json").read_text())
    assert record["cause"] == "config" and named in record["message"]


def test_non_loopback_bind_without_a_token_is_refused(tmp_path: Path) -> None:
    tmp_path.joinpath("nexus.toml").write_text('[gateway]\nbind = "0.0.0.0"\n')
    result = run_gateway(tmp_path)
    assert result.returncode == 78, result.stderr
    assert "non-loopback" in result.stderr and "nexus token" in result.stderr
    assert not (tmp_path / "gateway.token").exists()
