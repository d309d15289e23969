"""The terminal UI of ``nexus chat``: a thin Textual app over :mod:`nexus.client`.

    app.py            ChatApp: builds the engine, pushes the chat screen
    screens/chat.py   ChatScreen: transcript, input, status bar; the engine runs in a worker
    widgets/          RunItem (one message and its answer), StatusBar
    status.py         the status line, pure (no Textual)
    commands.py       slash commands, parsed purely
    plain.py          plain line mode for scripts (no Textual)

Importing this package does not import Textual; only ``nexus.tui.app`` and below do.
"""
