"""Telegram: ``manifest`` (config, no SDK import) and ``adapter`` (python-telegram-bot, imported only
when the channel runs)."""
