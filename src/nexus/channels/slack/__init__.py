"""Slack over Socket Mode (slack-sdk): manifest here, adapter in ``adapter`` (imported only when enabled)."""
