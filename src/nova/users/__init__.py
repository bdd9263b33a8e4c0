"""Users: accounts, sessions, profiles, the social graph, blocks, mutes and preferences.

Other services reach users only through :class:`UsersClient` (or its events); the composition
root builds :class:`UsersService` and wraps it in :class:`LocalUsersClient` (one process) or a
gRPC client (one process per service).

==================  ===============================================================
module              room
==================  ===============================================================
``domain``          pure rules and values (stdlib only)
``security``        argon2id passwords, JWT access tokens, refresh-token digests
``cursor``          opaque keyset cursors
``events``          the events this service emits
``store``           SQL in, domain objects out; never commits
``service``         use cases; one transaction each, outbox events inside it
``client``          the interface other services use
==================  ===============================================================
"""

from nova.users.client import LocalUsersClient, UsersClient
from nova.users.domain import (
    AccessClaims,
    CommentAudience,
    FeedMode,
    FollowState,
    Page,
    Preferences,
    Relation,
    TokenPair,
    Unset,
    User,
)
from nova.users.security import Argon2Params, Passwords
from nova.users.service import UsersService

__all__ = [
    "AccessClaims",
    "Argon2Params",
    "CommentAudience",
    "FeedMode",
    "FollowState",
    "LocalUsersClient",
    "Page",
    "Passwords",
    "Preferences",
    "Relation",
    "TokenPair",
    "Unset",
    "User",
    "UsersClient",
    "UsersService",
]
