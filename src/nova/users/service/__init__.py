"""The users service: every use case of accounts, profiles and the social graph.

Use cases take the :class:`~nova.platform.context.Actor` first and keyword-only arguments
after it. Each mutation is one ``db.write()`` transaction that also appends its outbox events,
so a change and its events commit together or not at all. The use cases are grouped by topic
in the modules of this package and assembled into :class:`UsersService` here.

Example:
    >>> users = UsersService(db, settings=settings, cache=VersionedCache(redis, prefix="nova:"))
    >>> user = await users.register(actor, username="ada", email="ada@example.com",
    ...                             password="correct horse battery")       # doctest: +SKIP
    >>> me = Actor.user(user.id, tenant_id="default")
    >>> await users.follow(me, target_id=other)                                 # doctest: +SKIP
"""

from nova.users.service.accounts import AccountUseCases
from nova.users.service.profiles import ProfileUseCases
from nova.users.service.safety import SafetyUseCases

__all__ = ["UsersService"]


class UsersService(AccountUseCases, ProfileUseCases, SafetyUseCases):
    """All users use cases over one database, cache and token configuration.

    See :class:`~nova.users.service._base.ServiceBase` for the constructor arguments.
    """
