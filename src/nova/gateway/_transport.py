"""GraphQL over HTTP: reading requests and writing responses (no execution here).

Every failure of the request itself is a :class:`TransportError` carrying its HTTP status, so
the endpoint answers with a GraphQL error body and the right status instead of a 500:

======================================  ======
request                                 status
======================================  ======
malformed JSON, bad fields, empty batch 400
batch of more than ``max_batch``        400
body (or query string) over the cap     413
POST without ``application/json``       415
other methods                           405
======================================  ======
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

import orjson
from starlette.responses import Response

from nova.gateway.errors import graphql_error

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = [
    "GRAPHQL_RESPONSE",
    "Operation",
    "TransportError",
    "error_response",
    "json_response",
    "read_operations",
]

#: The GraphQL-over-HTTP response media type.
GRAPHQL_RESPONSE = "application/graphql-response+json"


@dataclasses.dataclass(frozen=True, slots=True)
class Operation:
    """One GraphQL request as sent (query text may be absent under APQ)."""

    query: str | None
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None


class TransportError(Exception):
    """The HTTP request itself is unacceptable.

    Args:
        status: HTTP status to answer with.
        code: ``extensions.code`` of the error.
        message: What is wrong and how to fix it.
        retry_after: Seconds for the ``Retry-After`` header (429, 503).
    """

    def __init__(
        self, status: int, code: str, message: str, *, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


def media_type(request: Request) -> str:
    """The response media type the client accepts (GraphQL-over-HTTP unless only JSON)."""
    accept = request.headers.get("accept", "")
    if "application/json" in accept and GRAPHQL_RESPONSE not in accept and "*/*" not in accept:
        return "application/json"
    return GRAPHQL_RESPONSE


def json_response(
    body: Any,
    *,
    status: int,
    media: str,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> Response:
    """Serialize ``body`` with orjson (or send ``raw`` bytes as they are)."""
    content = raw if raw is not None else orjson.dumps(body)
    return Response(content, status_code=status, media_type=media, headers=headers)


def error_response(
    exc: TransportError, *, correlation_id: str, media: str, headers: dict[str, str] | None = None
) -> Response:
    """A GraphQL error body for a rejected request, never cacheable."""
    out = {"Cache-Control": "no-store", "X-Request-Id": correlation_id, **(headers or {})}
    extensions: dict[str, Any] = {}
    if exc.retry_after is not None:
        out["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
        extensions["retryAfter"] = round(exc.retry_after, 3)
    body = {
        "errors": [
            graphql_error(exc.message, code=exc.code, correlation_id=correlation_id, **extensions)
        ]
    }
    return json_response(body, status=exc.status, media=media, headers=out)


def _bad(message: str) -> TransportError:
    return TransportError(400, "BAD_REQUEST", message)


def _json_param(raw: str | None, name: str) -> dict[str, Any] | None:
    if raw is None or raw == "":
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _bad(f"The {name} parameter is not valid JSON.") from exc
    if value is not None and not isinstance(value, dict):
        raise _bad(f"The {name} parameter must be a JSON object.")
    return value


def _operation(item: Any) -> Operation:
    if not isinstance(item, dict):
        raise _bad("Each request must be a JSON object with a query.")
    query, variables = item.get("query"), item.get("variables")
    name, extensions = item.get("operationName"), item.get("extensions")
    if query is not None and not isinstance(query, str):
        raise _bad("query must be a string.")
    if variables is not None and not isinstance(variables, dict):
        raise _bad("variables must be a JSON object.")
    if name is not None and not isinstance(name, str):
        raise _bad("operationName must be a string.")
    if extensions is not None and not isinstance(extensions, dict):
        raise _bad("extensions must be a JSON object.")
    return Operation(query, variables, name, extensions)


async def _read_body(request: Request, *, max_bytes: int) -> bytes:
    too_large = TransportError(
        413, "PAYLOAD_TOO_LARGE", f"The request body exceeds {max_bytes} bytes; send a smaller one."
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def read_operations(
    request: Request, *, max_bytes: int, max_batch: int
) -> tuple[list[Operation], bool]:
    """The operations of ``request`` and whether it was a batch.

    Raises:
        TransportError: see the module table.
    """
    if request.method == "GET":
        if len(request.url.query) > max_bytes:
            raise TransportError(414, "URI_TOO_LONG", "The query string is too long; use POST.")
        params = request.query_params
        return [
            Operation(
                query=params.get("query"),
                variables=_json_param(params.get("variables"), "variables"),
                operation_name=params.get("operationName") or None,
                extensions=_json_param(params.get("extensions"), "extensions"),
            )
        ], False
    if request.method != "POST":
        raise TransportError(405, "METHOD_NOT_ALLOWED", "Use GET for queries or POST.")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise TransportError(
            415, "UNSUPPORTED_MEDIA_TYPE", "Send the request as Content-Type: application/json."
        )
    body = await _read_body(request, max_bytes=max_bytes)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _bad("The request body is not valid JSON.") from exc
    if isinstance(payload, list):
        if not payload:
            raise _bad("An empty batch has nothing to run.")
        if len(payload) > max_batch:
            raise _bad(f"A batch may hold at most {max_batch} operations (got {len(payload)}).")
        return [_operation(item) for item in payload], True
    return [_operation(payload)], False
