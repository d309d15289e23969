"""Nexus: a self-healing personal AI assistant gateway."""

__version__ = "0.1.0"
