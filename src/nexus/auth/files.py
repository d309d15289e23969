"""The store's files on disk and their locks.

    auth-profiles.json          secrets (0600), rewritten only when a secret changes
    auth-profiles.state.json    runtime facts (0600), see nexus.auth.state
    auth-profiles.json.lock     store lock: held for one read-modify-write of either file
    auth-profiles.json.locks/   one refresh lock per (provider, account), held across a refresh

Every writer takes the store lock, re-reads the file, applies its change to what is on disk now and
writes atomically: no stale in-memory copy is ever written back. Readers take no lock (the atomic
rename means they see the old file or the new one) and re-parse only when the file's identity
(inode, mtime, size) changed. Lock files are never deleted (see nexus.common.locks).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

from nexus.auth.errors import AuthError
from nexus.auth.profiles import StoreDocument, StoreFormatError, parse_document
from nexus.auth.state import RuntimeState, parse_state
from nexus.common.atomic import atomic_write_text
from nexus.common.locks import FileLock
from nexus.errors import LockTimeout


class AuthStoreInvalid(AuthError):
    """``auth-profiles.json`` cannot be parsed: nothing is written over it until a human fixes it."""


class AuthStoreBusy(AuthError):
    """The store lock was not obtained within its bound."""


_Signature = tuple[int, int, int]


def _signature(path: Path) -> _Signature | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` 0700; tighten it to 0700 when it is ours and not a shared sticky dir."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        st = os.stat(directory)
    except OSError:
        return
    if st.st_uid == os.getuid() and not st.st_mode & stat.S_ISVTX and stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(directory, 0o700)


class StoreFiles:
    """Reads and locked writes of the secrets file and the runtime state file."""

    def __init__(
        self,
        path: Path,
        *,
        lock_timeout: float = 5.0,
        writer: Callable[[Path, str], None] = lambda p, text: atomic_write_text(p, text, mode=0o600),
    ) -> None:
        self.path = Path(path)
        self._write = writer
        self.state_path = self.path.with_name(self.path.stem + ".state.json")
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.locks_dir = self.path.with_name(self.path.name + ".locks")
        self._lock_timeout = lock_timeout
        self._doc_cache: tuple[_Signature | None, StoreDocument] | None = None
        self._state_cache: tuple[_Signature | None, RuntimeState] | None = None

    # -- reading -----------------------------------------------------------------------------------
    def read(self, *, fresh: bool = False) -> StoreDocument:
        """The secrets document as on disk now. Raises :class:`AuthStoreInvalid` naming the problem.

        ``fresh`` skips the identity check: a recycled inode written twice within one mtime tick with
        the same size would look unchanged, so every decision that spends a token reads afresh.
        """
        sig = _signature(self.path)
        if not fresh and self._doc_cache is not None and self._doc_cache[0] == sig:
            return self._doc_cache[1]
        if sig is None:
            doc = StoreDocument()
        else:
            try:
                doc = parse_document(self.path.read_text(encoding="utf-8"))
            except (StoreFormatError, UnicodeDecodeError) as exc:
                raise AuthStoreInvalid(
                    f"{self.path}: {exc}. Fix the file by hand (or move it away and add the profiles again "
                    "with `nexus auth`); Nexus will not write over it."
                ) from exc
        self._doc_cache = (sig, doc)
        return doc

    def read_state(self, *, fresh: bool = False) -> RuntimeState:
        sig = _signature(self.state_path)
        if not fresh and self._state_cache is not None and self._state_cache[0] == sig:
            return self._state_cache[1]
        try:
            state = parse_state(self.state_path.read_text(encoding="utf-8")) if sig else RuntimeState()
        except (OSError, UnicodeDecodeError):
            state = RuntimeState()
        self._state_cache = (sig, state)
        return state

    # -- writing -----------------------------------------------------------------------------------
    def _locked(self, action: Callable[[], None]) -> None:
        ensure_private_dir(self.path.parent)
        lock = FileLock(self.lock_path)
        try:
            lock.acquire(self._lock_timeout)
        except LockTimeout as exc:
            raise AuthStoreBusy(
                f"{self.lock_path} stayed locked for {self._lock_timeout:.0f}s: another Nexus process is "
                "stuck writing the auth store; try again, or find it with `fuser` on that file"
            ) from exc
        try:
            action()
        finally:
            lock.release()

    def update(self, change: Callable[[StoreDocument], StoreDocument]) -> StoreDocument:
        """Apply ``change`` to the document on disk now, under the store lock; write only if it changed."""
        result: list[StoreDocument] = []

        def act() -> None:
            current = self.read(fresh=True)
            new = change(current)
            if new is not current:
                self._write(self.path, new.to_json())
                self._doc_cache = None
            result.append(new)

        self._locked(act)
        return result[0]

    def update_state(self, change: Callable[[RuntimeState], RuntimeState]) -> RuntimeState:
        result: list[RuntimeState] = []

        def act() -> None:
            current = self.read_state(fresh=True)
            new = change(current)
            if new is not current:
                self._write(self.state_path, new.to_json())
                self._state_cache = None
            result.append(new)

        self._locked(act)
        return result[0]

    # -- refresh locks -------------------------------------------------------------------------------
    def account_lock(self, provider: str, account: str) -> FileLock:
        """The host-wide refresh lock of one (provider, account); its file is never deleted."""
        ensure_private_dir(self.locks_dir)
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{provider}-{account}")[:60]
        digest = hashlib.sha256(f"{provider}\0{account}".encode()).hexdigest()[:10]
        return FileLock(self.locks_dir / f"{safe}-{digest}.lock")
