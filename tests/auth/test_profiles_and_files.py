"""The store document, the runtime state, the mount check, and concurrent writers on real files."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nexus.auth.errors import UnreliableFilesystem
from nexus.auth.files import AuthStoreInvalid, StoreFiles
from nexus.auth.filesystem import check_filesystem, mount_of, parse_mounts
from nexus.auth.profiles import InvalidProfile, Profile, ProfileType, StoreFormatError, parse_document
from nexus.auth.state import ProfileRuntime, ReauthMark, RuntimeState, parse_state
from nexus.common.secret import Secret

OPENCLAW_FILE = {
    "version": 1,
    "profiles": {
        "anthropic:claude-cli": {
            "type": "oauth",
            "provider": "anthropic",
            "access": "sk-ant-oat01-AAAA",
            "refresh": "sk-ant-ort01-BBBB",
            "expires": 1_800_000_000_000,
            "email": "me@example.com",
            "someFutureField": {"kept": True},
            "idToken": "EEEE",
        },
        "anthropic:inteia": {"type": "token", "provider": "anthropic", "token": "sk-ant-oat01-CCCC"},
        "openai:default": {"type": "api_key", "provider": "openai", "key": "sk-DDDD"},
    },
    "lastGood": {"anthropic": "anthropic:claude-cli"},
}


def test_openclaw_file_imports_and_round_trips_unknown_keys() -> None:
    doc = parse_document(json.dumps(OPENCLAW_FILE))
    assert set(doc.profiles) == {"anthropic:claude-cli", "anthropic:inteia", "openai:default"}
    cli = doc.profiles["anthropic:claude-cli"]
    assert cli.type is ProfileType.OAUTH
    assert cli.secret == Secret("sk-ant-oat01-AAAA")
    assert cli.account == "me@example.com"
    assert doc.profiles["anthropic:inteia"].expires_ms is None
    again = json.loads(doc.to_json())
    assert again == OPENCLAW_FILE  # nothing lost, nothing added


def test_profile_repr_never_shows_a_secret() -> None:
    doc = parse_document(json.dumps(OPENCLAW_FILE))
    text = repr(doc) + repr(doc.profiles) + str(doc.profiles)
    for secret in ("AAAA", "BBBB", "CCCC", "DDDD", "EEEE"):
        assert secret not in text


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("nope", "profiles.x:a: must be an object"),
        ({"type": "magic", "provider": "x"}, "profiles.x:a.type: 'magic' is not one of"),
        ({"type": "oauth", "provider": "x", "access": "a", "refresh": "r"}, "profiles.x:a.expires"),
        ({"type": "oauth", "provider": "x", "access": "a", "expires": 1}, "profiles.x:a.refresh"),
        (
            {"type": "oauth", "provider": "x", "access": "a", "refresh": "r", "expires": "soon"},
            "epoch milliseconds",
        ),
        ({"type": "api_key", "provider": "x"}, "profiles.x:a.key: must be a non-empty string"),
        ({"type": "token", "provider": "x", "token": ""}, "profiles.x:a.token"),
        ({"type": "borrowed", "provider": "x", "source": "vscode"}, "'vscode' cannot be borrowed"),
        ({"type": "api_key", "provider": 3, "key": "k"}, "profiles.x:a.provider"),
    ],
)
def test_bad_profile_is_reported_with_its_key_and_the_others_still_load(entry: object, problem: str) -> None:
    doc = parse_document(json.dumps({"profiles": {"x:a": entry, "x:ok": {"type": "api_key", "key": "k"}}}))
    assert "x:ok" in doc.profiles
    bad = doc.invalid["x:a"]
    assert isinstance(bad, InvalidProfile)
    assert problem in bad.problem
    assert "nexus auth remove x:a" in bad.problem
    # an invalid entry is written back untouched, never dropped
    assert json.loads(doc.to_json())["profiles"]["x:a"] == entry


@pytest.mark.parametrize(
    ("text", "problem"),
    [("{", "not valid JSON"), ("[]", "top level must be an object"), ('{"version": 2}', "version: 2")],
)
def test_file_level_problems(text: str, problem: str) -> None:
    with pytest.raises(StoreFormatError, match=problem):
        parse_document(text)


def test_runtime_state_round_trip_and_leniency() -> None:
    mark = ReauthMark(reason="reused", fingerprint="abcd1234", at=5.0)
    state = RuntimeState().with_profile("a", ProfileRuntime(needs_reauth=mark, last_used=3.0))
    state = state.with_order("anthropic", ("a", "b"))
    again = parse_state(state.to_json())
    assert again == state
    assert again.without("a").order == {"anthropic": ("b",)}
    assert parse_state("{garbage") == RuntimeState()
    assert parse_state('{"profiles": {"a": {"errors": "x", "last_used": true}}}').get("a") == ProfileRuntime()


# -- the mount table -------------------------------------------------------------------------------------
MOUNTS = """\
/dev/sdc / ext4 rw,relatime 0 0
drvfs /mnt/c 9p rw,noatime,dirsync,aname=drvfs 0 0
server:/export /home/me/nfs nfs4 rw 0 0
tmpfs /tmp tmpfs rw 0 0
/dev/sdd /home/me/my\\040disk ext4 rw 0 0
C: /mnt/d drvfs rw 0 0
"""


@pytest.mark.parametrize(
    ("path", "fstype"),
    [
        ("/home/me/.nexus/auth-profiles.json", "ext4"),
        ("/mnt/c/Users/me/auth.json", "9p"),
        ("/mnt/d/x.json", "drvfs"),
        ("/home/me/nfs/auth.json", "nfs4"),
        ("/home/me/nfsother/a.json", "ext4"),  # a prefix of the name is not a mount
        ("/home/me/my disk/a.json", "ext4"),  # octal escapes in mount points
        ("/tmp/x", "tmpfs"),
    ],
)
def test_mount_of(path: str, fstype: str) -> None:
    mount = mount_of(Path(path), parse_mounts(MOUNTS))
    assert mount is not None and mount.fstype == fstype


@pytest.mark.parametrize("where", ["mnt/c/Users", "nfs"])
def test_unreliable_filesystem_is_refused_with_the_fix(tmp_path: Path, where: str) -> None:
    target = tmp_path / where
    target.mkdir(parents=True)
    table = tmp_path / "mounts"
    fstype = "9p" if "mnt" in where else "nfs4"
    table.write_text(f"/dev/sda / ext4 rw 0 0\nsrv {tmp_path.resolve() / where} {fstype} rw 0 0\n")
    store = target / "auth-profiles.json"
    with pytest.raises(UnreliableFilesystem) as info:
        check_filesystem(store, mounts_path=table)
    message = str(info.value)
    assert fstype in message and "flock" in message and "NEXUS_AUTH_STORE" in message and "--force" in message
    assert check_filesystem(store, mounts_path=table, force=True) is not None
    assert check_filesystem(tmp_path / "ok.json", mounts_path=table).fstype == "ext4"  # type: ignore[union-attr]


def test_unreadable_mount_table_does_not_block(tmp_path: Path) -> None:
    assert check_filesystem(tmp_path / "a.json", mounts_path=tmp_path / "missing") is None


# -- real files ------------------------------------------------------------------------------------------
def _profile(name: str, secret: str) -> Profile:
    return Profile(name=name, type=ProfileType.API_KEY, provider="openai", secret=Secret(secret))


def test_files_are_private_and_the_dir_is_0700(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    files = StoreFiles(home / "auth-profiles.json")
    files.update(lambda doc: doc.with_profile(_profile("openai:a", "sk-1")))
    files.update_state(lambda s: s.with_order("openai", ("openai:a",)))
    assert stat.S_IMODE(os.stat(files.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(files.state_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    leftovers = [p.name for p in home.iterdir() if ".tmp-" in p.name]
    assert leftovers == []


def test_invalid_file_is_never_written_over(tmp_path: Path) -> None:
    path = tmp_path / "auth-profiles.json"
    path.write_text("{ not json")
    files = StoreFiles(path)
    with pytest.raises(AuthStoreInvalid, match="Nexus will not write over it"):
        files.update(lambda doc: doc.with_profile(_profile("openai:a", "sk-1")))
    assert path.read_text() == "{ not json"


def test_unchanged_document_is_not_rewritten(tmp_path: Path) -> None:
    files = StoreFiles(tmp_path / "auth-profiles.json")
    files.update(lambda doc: doc.with_profile(_profile("openai:a", "sk-1")))
    before = os.stat(files.path).st_ino
    files.update(lambda doc: doc)
    assert os.stat(files.path).st_ino == before


def _writer(path: str, worker: int, count: int) -> None:
    files = StoreFiles(Path(path), lock_timeout=20)
    for i in range(count):
        files.update(lambda doc, i=i: doc.with_profile(_profile(f"openai:w{worker}-{i}", f"sk-{worker}-{i}")))


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(workers=st.integers(min_value=2, max_value=3), count=st.integers(min_value=1, max_value=5))
def test_concurrent_writer_processes_never_lose_or_tear_an_update(
    tmp_path: Path, workers: int, count: int
) -> None:
    path = tmp_path / f"store-{workers}-{count}-{os.urandom(3).hex()}.json"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), w, count)) for w in range(workers)]
    for proc in procs:
        proc.start()
    seen_valid = 0
    while any(p.is_alive() for p in procs):  # a reader without a lock sees whole files only
        if path.exists():
            parse_document(path.read_text())
            seen_valid += 1
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0
    doc = parse_document(path.read_text())
    assert len(doc.profiles) == workers * count  # re-read under the lock: no writer lost another's change
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
