"""Typed spellings of ``strawberry.field(...)`` and ``strawberry.mutation(...)``.

Called with options only, Strawberry's decorators are typed as returning ``Any``, which
mypy's strict mode reports as an untyped decorator on every resolver. These wrappers pass the
same options through and keep the resolver's own signature visible to the type checker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import strawberry

__all__ = ["field", "mutation"]

F = TypeVar("F", bound=Callable[..., Any])


def field(*, description: str, directives: Sequence[object] = ()) -> Callable[[F], F]:
    """``@strawberry.field(description=..., directives=...)``, typed."""
    return cast(
        "Callable[[F], F]", strawberry.field(description=description, directives=directives)
    )


def mutation(*, description: str) -> Callable[[F], F]:
    """``@strawberry.mutation(description=...)``, typed."""
    return cast("Callable[[F], F]", strawberry.mutation(description=description))
