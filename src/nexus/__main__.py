"""``python -m nexus``: the same as the ``nexus`` command (how the supervisor execs the gateway)."""

from nexus.cli.app import main

main()
