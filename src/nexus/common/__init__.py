"""Foundations shared by every layer; imports nothing else of nexus except `nexus.errors`."""

from nexus.common.atomic import atomic_write_bytes, atomic_write_text
from nexus.common.clock import Clock, SystemClock
from nexus.common.locks import FileLock
from nexus.common.paths import NexusPaths
from nexus.common.secret import Secret

__all__ = [
    "Clock",
    "FileLock",
    "NexusPaths",
    "Secret",
    "SystemClock",
    "atomic_write_bytes",
    "atomic_write_text",
]
