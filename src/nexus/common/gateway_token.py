"""The gateway client token: one secret in ``$NEXUS_HOME/gateway.token`` (0600) shared by the gateway
and its local clients (CLI, terminal UI). ``NEXUS_GATEWAY_TOKEN`` overrides the file."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping

from nexus.common.atomic import atomic_write_text
from nexus.common.paths import NexusPaths
from nexus.common.secret import Secret


def read_token(paths: NexusPaths, environ: Mapping[str, str] | None = None) -> Secret | None:
    """The configured token, or None when none exists yet."""
    env = os.environ if environ is None else environ
    if env.get("NEXUS_GATEWAY_TOKEN"):
        return Secret(env["NEXUS_GATEWAY_TOKEN"])
    try:
        value = paths.token_file.read_text().strip()
    except FileNotFoundError:
        return None
    return Secret(value) if value else None


def ensure_token(paths: NexusPaths, environ: Mapping[str, str] | None = None) -> Secret:
    """The token, generated on first use (256 bits, file mode 0600)."""
    existing = read_token(paths, environ)
    if existing is not None:
        return existing
    value = secrets.token_urlsafe(32)
    target = paths.token_file
    staged = target.with_name(f".{target.name}.new-{os.getpid()}")
    atomic_write_text(staged, value + "\n", mode=0o600)
    try:
        os.link(staged, target)  # create-if-absent, atomically: two first starts agree on one token
    except FileExistsError:
        pass
    finally:
        staged.unlink(missing_ok=True)
    token = read_token(paths, environ)
    assert token is not None
    return token
