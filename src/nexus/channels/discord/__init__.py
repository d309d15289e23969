"""Discord over the gateway (discord.py): manifest here, adapter in ``adapter`` (imported only when enabled)."""
