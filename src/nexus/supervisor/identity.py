"""Stable names derived from the state directory, so every supervisor of one ``NEXUS_HOME`` (an earlier
one killed by SIGKILL included) recognises the same processes, and two homes never touch each other."""

from __future__ import annotations

import hashlib

from nexus.common import NexusPaths


def marker_for(paths: NexusPaths) -> str:
    return hashlib.sha256(str(paths.home).encode()).hexdigest()[:16]
