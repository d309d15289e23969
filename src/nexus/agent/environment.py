"""The environment ``exec`` runs with: an allow-list of harmless variables, minus any known secret.

An allow-list, not a deny-list: a provider key under a name Nexus has never heard of must not reach a
command the model wrote. On top of it, any allowed variable whose value contains a secret Nexus
knows (provider keys, the gateway token, channel tokens) is dropped too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from nexus.common.gateway_token import read_token
from nexus.common.paths import NexusPaths
from nexus.config.schema import NexusConfig

SAFE_NAMES = frozenset(
    {"PATH", "HOME", "LANG", "LANGUAGE", "TERM", "TZ", "USER", "LOGNAME", "SHELL", "TMPDIR", "COLUMNS"}
)
SAFE_PREFIXES = ("LC_",)
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
MIN_SECRET_LEN = 8


def scrub_environment(
    environ: Mapping[str, str], *, secrets: Iterable[str] = (), extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The allowed variables of ``environ`` that carry no secret, plus ``extra``."""
    values = [s for s in secrets if s and len(s) >= MIN_SECRET_LEN]
    env: dict[str, str] = {}
    for name, value in environ.items():
        if name not in SAFE_NAMES and not name.startswith(SAFE_PREFIXES):
            continue
        if any(secret in value for secret in values):
            continue
        env[name] = value
    env.setdefault("PATH", DEFAULT_PATH)
    env.update(extra or {})
    return env


def key_variables(config: NexusConfig) -> set[str]:
    """Every environment variable Nexus reads a provider key from, and the gateway token's."""
    from nexus.config.providers import DEFAULT_KEY_ENV, key_envs

    return {*DEFAULT_KEY_ENV.values(), *key_envs(config).values(), "NEXUS_GATEWAY_TOKEN"}


def known_secrets(
    config: NexusConfig, paths: NexusPaths, environ: Mapping[str, str] | None = None
) -> list[str]:
    """The secret values Nexus holds: provider keys from the environment, the gateway token, and the
    channel tokens; used to scrub ``exec``'s environment (and never logged)."""
    from nexus.channels.secrets import ChannelSecrets

    env = os.environ if environ is None else environ
    found = [env[name] for name in key_variables(config) if env.get(name)]
    for token in (read_token(paths, env), read_token(paths, {})):  # the override and the file
        if token is not None:
            found.append(token.reveal())
    try:
        store = ChannelSecrets(paths.home)
        for channel in store.channels():
            secret = store.get(channel)
            if secret is not None:
                found.append(secret.reveal())
    except Exception:  # an unreadable secrets file must not stop exec; the allow-list still holds
        pass
    return found
