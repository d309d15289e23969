"""The doctor against real conditions: real listeners on the port, real stale Nexus processes, unit
files, tokens, a shared account, an unreliable mount, modes. ``--fix`` fixes what it may only."""

from __future__ import annotations

import json
import time
from pathlib import Path

from nexus.ops.doctor import run_doctor
from nexus.ops.findings import Finding, Severity
from nexus.ops.programs import RunResult
from nexus.ops.render import HEADER
from tests.ops.conftest import LISTENER, World, alive, wait_until

DAY_MS = 86_400_000


def by_check(findings: list[Finding], check: str) -> list[Finding]:
    return [f for f in findings if f.check == check]


def counted(findings: list[Finding]) -> set[str]:
    return {f.check for f in findings if f.counts}


def test_foreign_listener_is_named_and_never_killed_by_fix(world: World) -> None:
    foreign = world.listener(marked=False)
    outcome = run_doctor(world.env())
    port = by_check(outcome.findings, "port")[0]
    assert port.severity is Severity.ERROR
    assert f"pid {foreign.pid}" in port.finding and "not a Nexus process" in port.finding
    assert not port.fixable
    assert outcome.exit_code == 1

    fixed = run_doctor(world.env(), fix=True)
    assert alive(foreign.pid), "--fix must never kill a foreign process"
    assert by_check(fixed.findings, "port")[0].severity is Severity.ERROR
    assert not any(str(foreign.pid) in line for line in fixed.fixed)


def test_stale_nexus_process_on_the_port_is_killed_by_fix(world: World) -> None:
    stale = world.listener(marked=True)
    bystander = world.spawn("import time; print('up', flush=True); time.sleep(120)")  # same user, unmarked
    outcome = run_doctor(world.env())
    port = by_check(outcome.findings, "port")[0]
    assert port.severity is Severity.ERROR and "stale Nexus process" in port.finding
    assert port.fixable

    fixed = run_doctor(world.env(), fix=True)
    wait_until(lambda: not alive(stale.pid), timeout=5, what="the stale process to die")
    assert any(f"pid {stale.pid}" in line for line in fixed.fixed)
    assert by_check(fixed.findings, "port")[0].severity is Severity.INFO  # nothing listens any more
    assert alive(bystander.pid)


def test_survivor_without_the_port_is_reported_and_killed(world: World) -> None:
    survivor = world.spawn("import time; print('up', flush=True); time.sleep(120)", marked=True)
    outcome = run_doctor(world.env())
    found = by_check(outcome.findings, "survivors")[0]
    assert found.severity is Severity.WARN and str(survivor.pid) in found.finding
    run_doctor(world.env(), fix=True)
    wait_until(lambda: not alive(survivor.pid), timeout=5, what="the survivor to die")


def test_dangerous_unit_is_found_and_ours_is_rewritten(world: World) -> None:
    foreign_unit = world.units / "gateway-old.service"
    foreign_unit.write_text(
        "[Service]\nExecStart=/usr/bin/nexus gateway run\nKillMode=process\nRestart=always\n"
    )
    ours = world.units / "nexus.service"
    ours.write_text(
        f"{HEADER}\n[Unit]\nStartLimitIntervalSec=0\n[Service]\nType=notify\n"
        f'ExecStart=/opt/py -m nexus gateway run\nEnvironment="NEXUS_HOME={world.paths.home}"\n'
        f"Environment=NEXUS_SUPERVISOR_ID={world.marker}\nKillMode=process\nRestart=on-failure\n"
        "[Install]\nWantedBy=default.target\n"
    )
    outcome = run_doctor(world.env())
    units = by_check(outcome.findings, "service-file")
    kill_modes = [f for f in units if "KillMode=process" in f.finding]
    assert {Path(f.details["path"]).name for f in kill_modes} == {"gateway-old.service", "nexus.service"}
    assert all(f.severity is Severity.ERROR for f in kill_modes)
    assert any("StartLimitIntervalSec=0" in f.finding for f in units)
    assert any("RestartPreventExitStatus=78" in f.finding for f in units)

    fixed = run_doctor(world.env(), fix=True)
    assert any("rewrote" in line and "nexus.service" in line for line in fixed.fixed)
    text = ours.read_text()
    assert "KillMode=mixed" in text and "KillMode=process" not in text
    assert f"NEXUS_HOME={world.paths.home}" in text and "ExecStart=/opt/py -m nexus gateway run" in text
    assert "KillMode=process" in foreign_unit.read_text(), "a unit that is not ours is never rewritten"
    left = [f for f in by_check(fixed.findings, "service-file") if f.counts]
    assert {Path(f.details["path"]).name for f in left} == {"gateway-old.service"}


def test_expired_and_expiring_tokens_and_single_profile(world: World) -> None:
    now_ms = int(time.time() * 1000)
    world.store(
        {
            "anthropic:old": {
                "type": "token",
                "provider": "anthropic",
                "token": "sk-old-SECRET",
                "expires": now_ms - DAY_MS,
            },
            "anthropic:soon": {
                "type": "token",
                "provider": "anthropic",
                "token": "sk-soon-SECRET",
                "expires": now_ms + 3 * DAY_MS,
            },
        }
    )
    outcome = run_doctor(world.env())
    auth = {f.details.get("profile"): f for f in by_check(outcome.findings, "auth")}
    assert auth["anthropic:old"].severity is Severity.ERROR and "expired" in auth["anthropic:old"].finding
    assert auth["anthropic:soon"].severity is Severity.WARN and "expiring" in auth["anthropic:soon"].finding
    redundancy = by_check(outcome.findings, "redundancy")[0]
    assert redundancy.severity is Severity.WARN and "only one usable" in redundancy.finding
    assert "SECRET" not in json.dumps(outcome.to_json())


def test_oauth_account_shared_with_claude_code(world: World) -> None:
    now_ms = int(time.time() * 1000)
    world.store(
        {
            "anthropic:claude-cli": {
                "type": "oauth",
                "provider": "anthropic",
                "access": "at-SECRET-1",
                "refresh": "rt-SHARED-SECRET",
                "expires": now_ms + 3_600_000,
            },
            "anthropic:key": {"type": "api_key", "provider": "anthropic", "key": "sk-ant-SECRET"},
        }
    )
    claude = world.home / ".claude"
    claude.mkdir()
    (claude / ".credentials.json").write_text(
        json.dumps(
            {
                "claudeAiOauth": {
                    "accessToken": "at-SECRET-2",
                    "refreshToken": "rt-SHARED-SECRET",
                    "expiresAt": now_ms,
                }
            }
        )
    )
    outcome = run_doctor(world.env())
    shared = by_check(outcome.findings, "shared-account")
    assert len(shared) == 1 and shared[0].severity is Severity.ERROR
    assert "anthropic:claude-cli" in shared[0].finding and "Claude Code" in shared[0].finding
    assert "nexus auth borrow claude-code" in (shared[0].remedy or "")
    assert "SECRET" not in json.dumps(outcome.to_json())


def test_unreliable_filesystem_from_an_injected_mount_table(world: World) -> None:
    world.mounts.write_text(f"/dev/sda1 / ext4 rw 0 0\nserver:/export {world.root} nfs4 rw 0 0\n")
    outcome = run_doctor(world.env())
    fs = by_check(outcome.findings, "filesystem")
    assert fs and all(f.severity is Severity.ERROR for f in fs)
    assert any("nfs4" in f.finding and "auth store" in f.finding for f in fs)


def test_modes_are_narrowed_by_fix(world: World) -> None:
    store = world.store({"anthropic:key": {"type": "api_key", "provider": "anthropic", "key": "sk-x"}})
    store.chmod(0o644)
    world.paths.home.chmod(0o755)
    outcome = run_doctor(world.env())
    perms = by_check(outcome.findings, "permissions")
    assert {f.fix.target for f in perms if f.fix} == {str(store), str(world.paths.home)}
    run_doctor(world.env(), fix=True)
    assert store.stat().st_mode & 0o777 == 0o600
    assert world.paths.home.stat().st_mode & 0o777 == 0o700


def test_wsl_without_systemd_from_injected_proc_files(world: World) -> None:
    world.proc_version.write_text("Linux version 5.15.153.1-microsoft-standard-WSL2 (root@x)\n")
    world.proc_1_comm.write_text("init\n")
    outcome = run_doctor(world.env())
    wsl = by_check(outcome.findings, "wsl")[0]
    assert wsl.severity is Severity.WARN and "WSL2 without systemd" in wsl.finding


def test_broken_config_names_the_key(world: World) -> None:
    world.config_text(f"[gateway]\nport = {world.port}\n[models]\nfalbacks = []\n")
    outcome = run_doctor(world.env())
    config = by_check(outcome.findings, "config")[0]
    assert config.severity is Severity.ERROR and "models.falbacks" in config.finding


def test_cli_exit_codes_and_json(world: World) -> None:
    world.store(
        {
            "anthropic:a": {"type": "api_key", "provider": "anthropic", "key": "sk-SECRET-a"},
            "anthropic:b": {"type": "api_key", "provider": "anthropic", "key": "sk-SECRET-b"},
        }
    )
    world.paths.home.chmod(0o700)
    done = world.nexus("doctor", "--json")
    doc = json.loads(done.stdout)
    assert done.returncode == doc["exit_code"]
    assert done.returncode in (0, 1)
    assert "SECRET" not in done.stdout + done.stderr
    if done.returncode == 1:  # the real host may have its own findings (WSL, disk); none of ours
        assert all(
            f["check"] in ("wsl", "disk", "service-file", "filesystem")
            for f in doc["findings"]
            if f["severity"] in ("warn", "error")
        )
    world.config_text("[gateway]\nport = 70000\n")
    bad = world.nexus("doctor")
    assert bad.returncode == 1 and "gateway.port" in bad.stdout


def test_a_failing_gatherer_is_reported_and_exits_2(world: World) -> None:
    def broken(argv: object) -> RunResult:
        raise RuntimeError("systemctl exploded")

    outcome = run_doctor(world.env(runner=broken))
    assert outcome.exit_code == 2
    assert any("could not check" in f.finding and "systemctl exploded" in f.finding for f in outcome.findings)
    assert any(f.check == "config" for f in outcome.findings), "the other checks still ran"


def test_foreign_secret_on_argv_is_never_printed(world: World) -> None:
    code = LISTENER.replace("int(sys.argv[1])", "int(sys.argv[3])")
    holder = world.spawn(code, "--api-key", "sk-FOREIGN-SECRET", str(world.port))
    outcome = run_doctor(world.env())
    port = by_check(outcome.findings, "port")[0]
    assert f"pid {holder.pid}" in port.finding and "--api-key ***" in port.finding
    assert "FOREIGN-SECRET" not in json.dumps(outcome.to_json())
