"""The users store: SQL in, domain objects out. Takes a connection; never commits.

Split by table group: :mod:`.accounts` (users), :mod:`.tokens` (refresh tokens),
:mod:`.graph` (follows and requests), :mod:`.safety` (blocks, mutes, versions, preferences).
Driver errors become :class:`~nova.platform.errors.NovaError` at this boundary.
"""

from nova.users.store import accounts, graph, safety, tokens

__all__ = ["accounts", "graph", "safety", "tokens"]
