"""``nexus backup``: archives proven restorable, refused when damaged, secrets sealed, git pushes that
alert when they fail. Real SQLite, real git, the real CLI in a subprocess."""

from __future__ import annotations

import gzip
import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from nexus.common import NexusPaths, Secret
from nexus.config import NexusConfig
from nexus.ops.backup import (
    ArchiveDamaged,
    KdfParams,
    RestoreTargetInUse,
    WrongPassphrase,
    create_backup,
    read_archive,
    restore_archive,
    verify_archive,
)
from nexus.ops.backup.manifest import Manifest, Member, problems

FAST_KDF = KdfParams(n=2**12)
TOKEN = "sk-ant-oat01-very-secret-access-token"
PASSPHRASE = "correct horse battery staple"


def make_home(root: Path) -> NexusPaths:
    paths = NexusPaths(home=root)
    paths.ensure()
    paths.config_file.write_text("[gateway]\nmax_run_attempts = 3\n")
    (paths.workspace / "SOUL.md").write_text("You are Nexus.\n")
    (paths.workspace / "notes").mkdir()
    (paths.workspace / "notes" / "todo.md").write_text("- back up\n")
    with sqlite3.connect(paths.state_db) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, text TEXT)")
        conn.execute("CREATE TABLE channel_routes (run_id INTEGER, chat TEXT)")
        conn.executemany("INSERT INTO runs (text) VALUES (?)", [(f"m{i}",) for i in range(25)])
        conn.execute("INSERT INTO channel_routes VALUES (1, 'telegram:42')")
    paths.auth_store.write_text(json.dumps({"version": 1, "profiles": {"a:b": {"token": TOKEN}}}))
    paths.auth_store.chmod(0o600)
    paths.token_file.write_text("gateway-secret\n")
    paths.token_file.chmod(0o600)
    return paths


def nexus(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("NEXUS_", "ANTHROPIC_", "OPENAI_"))}
    return subprocess.run(
        [sys.executable, "-m", "nexus", *args],
        env={**base, **(env or {}), "NEXUS_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def rewrite(archive: Path, change: dict[str, bytes | None]) -> None:
    """Rebuild ``archive`` with members replaced (bytes), removed (None) or added, manifest untouched."""
    members: dict[str, bytes] = {}
    with tarfile.open(archive, "r:gz") as tar:
        for info in tar:
            extracted = tar.extractfile(info)
            assert extracted is not None
            members[info.name] = extracted.read()
    for name, data in change.items():
        if data is None:
            members.pop(name, None)
        else:
            members[name] = data
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    archive.write_bytes(buffer.getvalue())


def test_create_verify_restore_round_trip_keeps_everything_and_secrets_private(tmp_path: Path) -> None:
    paths = make_home(tmp_path / "home")
    created = create_backup(
        paths, NexusConfig(), to=tmp_path / "out", passphrase=Secret(PASSPHRASE), kdf=FAST_KDF
    )
    assert created.path.stat().st_mode & 0o777 == 0o600
    assert created.manifest.facts["runs_rows"] == 25 and created.manifest.facts["channel_routes_rows"] == 1
    raw = gzip.decompress(created.path.read_bytes())
    assert TOKEN.encode() not in raw and b"gateway-secret" not in raw, "a secret is in clear"
    assert verify_archive(created.path, passphrase=Secret(PASSPHRASE)).secrets

    restored = restore_archive(created.path, tmp_path / "new", passphrase=Secret(PASSPHRASE))
    home = restored.home
    assert (home / "workspace" / "notes" / "todo.md").read_text() == "- back up\n"
    assert (home / "nexus.toml").read_text() == paths.config_file.read_text()
    assert (home / "auth-profiles.json").read_bytes() == paths.auth_store.read_bytes()
    for secret in ("auth-profiles.json", "gateway.token", "state.db"):
        assert (home / secret).stat().st_mode & 0o777 == 0o600, secret
    assert home.stat().st_mode & 0o777 == 0o700
    with sqlite3.connect(home / "state.db") as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 25
        assert conn.execute("SELECT chat FROM channel_routes").fetchone()[0] == "telegram:42"
    assert not list(tmp_path.glob(".new.restore-*")), "no staging directory is left behind"


def test_restore_never_writes_into_a_directory_in_use(tmp_path: Path) -> None:
    paths = make_home(tmp_path / "home")
    created = create_backup(paths, NexusConfig(), to=tmp_path / "out")
    with pytest.raises(RestoreTargetInUse, match="not empty"):
        restore_archive(created.path, paths.home)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert restore_archive(created.path, empty).home == empty


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"state.db": b"SQLite format 3\x00" + b"\x00" * 100}, "SHA-256 does not match|bytes, the manifest"),
        ({"workspace/SOUL.md": b"You are Nexxs.\n"}, "SHA-256 does not match"),
        ({"workspace/SOUL.md": None}, "workspace/SOUL.md: missing"),
        ({"workspace/evil.sh": b"rm -rf ~"}, "workspace/evil.sh: not in the manifest"),
        ({"manifest.json": b"{not json"}, "manifest.json is not JSON"),
    ],
)
def test_a_damaged_archive_is_refused_with_what_is_wrong(
    tmp_path: Path, change: dict[str, bytes | None], expected: str
) -> None:
    paths = make_home(tmp_path / "home")
    created = create_backup(paths, NexusConfig(), to=tmp_path / "out")
    rewrite(created.path, change)
    with pytest.raises(ArchiveDamaged, match=expected):
        verify_archive(created.path)
    with pytest.raises(ArchiveDamaged):
        restore_archive(created.path, tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_cli_refuses_a_truncated_archive_and_a_wrong_passphrase_clearly(tmp_path: Path) -> None:
    paths = make_home(tmp_path / "home")
    secret_file = tmp_path / "pass"
    secret_file.write_text(PASSPHRASE + "\n")
    done = nexus(paths.home, "backup", "create", "--include-secrets", "--passphrase-file", str(secret_file))
    assert done.returncode == 0, done.stderr
    archive = Path(done.stdout.split()[1])
    assert archive.parent == paths.home / "backups"
    listed = nexus(paths.home, "backup", "list")
    assert archive.name in listed.stdout and "secrets sealed" in listed.stdout

    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    bad = nexus(paths.home, "backup", "verify", str(archive), "--passphrase-file", str(wrong))
    assert bad.returncode == 1 and "wrong passphrase" in bad.stderr, bad.stderr
    bad = nexus(
        paths.home,
        "backup",
        "restore",
        str(archive),
        "--into",
        str(tmp_path / "r1"),
        "--passphrase-file",
        str(wrong),
    )
    assert bad.returncode == 1 and "wrong passphrase" in bad.stderr
    assert not (tmp_path / "r1").exists()
    missing = nexus(paths.home, "backup", "restore", str(archive), "--into", str(tmp_path / "r1"))
    assert missing.returncode == 1 and "--passphrase-file" in missing.stderr
    ok = nexus(paths.home, "backup", "verify", str(archive), "--passphrase-file", str(secret_file))
    assert ok.returncode == 0 and "secrets open" in ok.stdout, ok.stderr

    clear = nexus(paths.home, "backup", "create", "--include-secrets")
    assert clear.returncode == 1 and "never stored in clear" in clear.stderr

    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    cut = nexus(paths.home, "backup", "verify", str(archive))
    assert cut.returncode == 1 and "not a readable archive" in cut.stderr and "Traceback" not in cut.stderr


def test_a_home_where_the_gateway_never_ran_backs_up_and_restores(tmp_path: Path) -> None:
    paths = NexusPaths(home=tmp_path / "fresh")
    paths.ensure()
    (paths.workspace / "SOUL.md").write_text("hello\n")
    created = create_backup(paths, NexusConfig(), to=tmp_path / "out")
    assert "none yet" in created.manifest.facts["state_db"]
    restored = restore_archive(created.path, tmp_path / "new")
    assert (restored.home / "workspace" / "SOUL.md").read_text() == "hello\n"
    assert not (restored.home / "state.db").exists()


def test_wrong_passphrase_in_process_raises_its_own_error(tmp_path: Path) -> None:
    paths = make_home(tmp_path / "home")
    created = create_backup(paths, NexusConfig(), to=tmp_path, passphrase=Secret(PASSPHRASE), kdf=FAST_KDF)
    with pytest.raises(WrongPassphrase, match="wrong passphrase"):
        restore_archive(created.path, tmp_path / "new", passphrase=Secret("something else entirely"))
    restored = restore_archive(created.path, tmp_path / "new", without_secrets=True)
    assert not (restored.home / "auth-profiles.json").exists() and restored.notes


def test_manifest_problems_table() -> None:
    good = {"a": b"x", "workspace/b": b"yy"}
    manifest = Manifest(0.0, "0", tuple(Member.of(k, v) for k, v in good.items()))
    cases = [
        (good, []),
        ({"a": b"x"}, ["workspace/b: missing"]),
        ({**good, "a": b"z"}, ["a: SHA-256 does not match the manifest (the file is damaged)"]),
        ({**good, "a": b"xx"}, ["a: 2 bytes, the manifest says 1"]),
        ({**good, "c": b""}, ["c: not in the manifest"]),
    ]
    for present, expected in cases:
        assert problems(manifest, present) == expected, present
    evil = Manifest(0.0, "0", (Member.of("../x", b""), Member.of("/etc/passwd", b"")))
    assert [p.split(":")[0] for p in problems(evil, {})] == ["../x", "/etc/passwd"]
    secrets_lie = Manifest(0.0, "0", (), secrets=True)
    assert problems(secrets_lie, {}) == ["the manifest's secrets flag disagrees with its members"]
    assert read_archive  # exported for tools that only list members


# --------------------------------------------------------------------------- git


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=30
    ).stdout


def test_backup_git_pushes_the_workspace_to_a_bare_repo(tmp_path: Path) -> None:
    paths = make_home(tmp_path / "home")
    bare = tmp_path / "remote.git"
    git("init", "-q", "--bare", "-b", "main", str(bare))
    paths.config_file.write_text(f'[backup]\ngit_remote = "{bare}"\ngit_include_archive = true\n')
    assert nexus(paths.home, "backup", "create").returncode == 0
    done = nexus(paths.home, "backup", "git")
    assert done.returncode == 0, done.stderr
    assert f"pushed to {bare}" in done.stdout
    assert git("--git-dir", str(bare), "show", "main:workspace/notes/todo.md") == "- back up\n"
    tree = git("--git-dir", str(bare), "ls-tree", "-r", "--name-only", "main")
    assert "archives/nexus-backup-" in tree and "auth-profiles.json" not in tree
    (paths.workspace / "SOUL.md").write_text("You are Nexus, v2.\n")
    assert nexus(paths.home, "backup", "git").returncode == 0
    assert git("--git-dir", str(bare), "show", "main:workspace/SOUL.md") == "You are Nexus, v2.\n"
    assert git("--git-dir", str(bare), "rev-list", "--count", "main").strip() == "2"
    again = nexus(paths.home, "backup", "git")
    assert "no change" in again.stdout


def test_a_failing_push_alerts_the_owner_and_exits_non_zero(tmp_path: Path) -> None:
    paths = make_home(tmp_path / "home")
    got = tmp_path / "alert.json"
    paths.config_file.write_text(
        f'[backup]\ngit_remote = "{tmp_path / "no-such-remote.git"}"\n\n[alerts]\ncommand = "cat > {got}"\n'
    )
    done = nexus(paths.home, "backup", "git")
    assert done.returncode == 1
    assert "push" in done.stderr and "owner was alerted" in done.stderr
    alert = json.loads(got.read_text())
    assert alert["kind"] == "backup_failed" and "no-such-remote" in alert["message"]
    history = json.loads((paths.run / "alerts.json").read_text())
    assert history["recent"][-1]["kind"] == "backup_failed"
