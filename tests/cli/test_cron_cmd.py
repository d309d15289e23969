"""``nexus cron`` as a real process, with and without a gateway; bad input stores nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nexus.common.paths import NexusPaths
from nexus.store import open_database
from nexus.store.cron import CronStore

NEXUS = str(Path(sys.executable).parent / "nexus")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "NEXUS_HOME": str(tmp_path / "home"),
        "HOME": str(tmp_path),
        "TZ": "Europe/Berlin",
    }


def nexus(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NEXUS, *args], capture_output=True, text=True, env=env, timeout=60)


def stored(env: dict[str, str]) -> list[str]:
    conn = open_database(NexusPaths(home=Path(env["NEXUS_HOME"])).state_db)
    try:
        return [job.name for job in CronStore(conn).jobs()]
    finally:
        conn.close()


def test_add_list_run_remove_without_a_gateway(env: dict[str, str]) -> None:
    added = nexus(
        env,
        "cron",
        "add",
        "brief",
        "--cron",
        "0 9 * * MON-FRI",
        "-m",
        "morning brief",
        "--deliver",
        "telegram:42",
    )
    assert added.returncode == 0, added.stderr
    assert "next fire" in added.stdout and "(Europe/Berlin)" in added.stdout  # this machine's zone ($TZ)
    listed = json.loads(nexus(env, "cron", "list", "--json").stdout)["jobs"]
    assert [(j["name"], j["schedule"], j["deliver"], j["catch_up"], j["session"]) for j in listed] == [
        ("brief", {"cron": "0 9 * * MON-FRI"}, "telegram:42", "once", "cron:brief")
    ]
    assert (
        listed[0]["next_fire_local"].endswith(("+01:00", "+02:00"))
        and "T09:00:00" in listed[0]["next_fire_local"]
    )
    ran = nexus(env, "cron", "run", "brief")
    assert ran.returncode == 0 and "no gateway is running" in ran.stdout
    assert json.loads(nexus(env, "cron", "list", "--json").stdout)["jobs"][0]["run_requested"] is True
    assert nexus(env, "cron", "remove", "brief").returncode == 0
    assert stored(env) == []
    assert nexus(env, "cron", "remove", "brief").returncode == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--every", "5x", "-m", "m"], "--every: '5x' is not a duration; write e.g. '30s'"),
        (["--cron", "0 25 * * *", "-m", "m"], "--cron: '0 25 * * *' is not a cron expression"),
        (
            ["--every", "1h", "--tz", "Europe/Atlantis", "-m", "m"],
            "--tz: unknown time zone 'Europe/Atlantis'",
        ),
        (["--every", "1h", "-m", "m", "--catch-up", "maybe"], "--catch-up: 'maybe' is not a catch-up policy"),
        (["--every", "1h", "-m", "m", "--deliver", "telegram"], "--deliver: 'telegram' is not CHANNEL:CHAT"),
        (["--at", "2001-02-03T04:05", "-m", "m"], "--at: '2001-02-03T04:05' is in the past"),
        (["-m", "m"], "give exactly one of --every DURATION"),
    ],
)
def test_bad_input_names_the_option_and_stores_nothing(
    env: dict[str, str], args: list[str], expected: str
) -> None:
    result = nexus(env, "cron", "add", "job", *args)
    assert result.returncode == 2
    assert expected in result.stderr and "nothing stored" in result.stderr
    assert "Traceback" not in result.stderr
    if Path(env["NEXUS_HOME"], "state.db").exists():
        assert stored(env) == []


def test_duplicate_name_is_refused(env: dict[str, str]) -> None:
    assert nexus(env, "cron", "add", "a", "--every", "1h", "-m", "first").returncode == 0
    again = nexus(env, "cron", "add", "a", "--every", "5m", "-m", "second")
    assert again.returncode == 2 and "name: a job named 'a' exists already" in again.stderr
    assert json.loads(nexus(env, "cron", "list", "--json").stdout)["jobs"][0]["message"] == "first"


def test_a_broken_cron_table_stops_the_gateway_with_exit_78_naming_it(env: dict[str, str]) -> None:
    home = Path(env["NEXUS_HOME"])
    home.mkdir(parents=True)
    (home / "nexus.toml").write_text(
        '[[cron]]\nname = "ok"\nevery = "1h"\nmessage = "m"\n\n'
        '[[cron]]\nname = "night"\ncron = "0 2 * *"\nmessage = "m"\n'
    )
    result = nexus(env, "gateway", "run", "--port", "0")
    assert result.returncode == 78
    assert "[[cron]] #2: (name 'night') cron: '0 2 * *' is not a cron expression" in result.stderr
    listed = nexus(env, "cron", "add", "x", "--every", "1h", "-m", "m")  # the CLI still works
    assert listed.returncode == 0
