"""``nexus drill`` refuses a broken config before building anything (exit 78, the key named)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_a_bad_config_is_refused_with_the_key_named(tmp_path: Path) -> None:
    (tmp_path / "nexus.toml").write_text("[supervisor]\nwatchdog_timeout_s = -1\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_")}
    for args in ((), ("--live",)):
        done = subprocess.run(
            [sys.executable, "-m", "nexus", "drill", *args],
            env={**env, "NEXUS_HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 78, done.stderr
        assert "supervisor.watchdog_timeout_s" in done.stderr
