"""Channel errors: what went wrong at a platform, already classified for the manager and the outbox.

    ChannelError (NexusError)
    ├── ChannelConfigError     bad ``[channels.NAME]`` table or missing secret: names the key and the fix
    ├── AuthRejected           the platform refused the credential (Telegram 401/404): fix, then it retries
    ├── Conflict               another poller holds the bot (Telegram 409, or our own poller lock)
    ├── TransportError         network trouble, 5xx, a stalled long poll: rebuild the connection
    │   └── Stalled            a long poll gave no answer in time
    └── SendError              one outbound call failed
        ├── RateLimited        the platform said "retry after N seconds"
        ├── TransientSendError worth retrying with backoff
        └── PermanentSendError never worth retrying (bot blocked, chat gone, message too long)

Platform SDK errors are translated into these once, inside each adapter, and chained with ``from``;
nothing above an adapter ever sees an SDK exception. Messages never contain a credential.
"""

from __future__ import annotations

from nexus.errors import NexusError


class ChannelError(NexusError):
    """A channel cannot do what was asked; subclasses say whether and how to retry."""


class ChannelConfigError(ChannelError):
    """The channel's configuration or secret is unusable; ``problems`` has one line per key."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class AuthRejected(ChannelError):
    """The platform refused the bot credential."""


class Conflict(ChannelError):
    """Someone else consumes this bot's updates (another process, machine or a webhook).

    ``local``: it is another process on this host holding our poller lock (nothing was sent)."""

    def __init__(self, message: str, *, local: bool = False) -> None:
        super().__init__(message)
        self.local = local


class TransportError(ChannelError):
    """The connection to the platform is broken; the manager rebuilds it after a backoff."""


class Stalled(TransportError):
    """A long poll neither answered nor failed within its deadline: the connection is deaf."""


class SendError(ChannelError):
    """An outbound call (send, edit) failed."""


class RateLimited(SendError):
    """The platform asked us to wait ``retry_after`` seconds before the next call."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransientSendError(SendError):
    """Network trouble or a server error: retry with backoff."""


class PermanentSendError(SendError):
    """The platform will never accept this call as it is: do not retry."""
