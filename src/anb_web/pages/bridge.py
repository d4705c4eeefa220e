"""Pages act through the JSON API's own handlers, so every auth rule is the API's rule.

A page request becomes an API request: the session's JWT goes into ``Authorization:
Bearer``, cookies are dropped, and the handler (signup, login with whatever limits it
applies, upload, vote, delete, lists) runs unchanged. Errors surface as the same
``ApiError`` the API would answer with.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive

Handler = Callable[[Request], Awaitable[Response]]

#: Headers a page request must not pass on: the API sees a bearer token, never a cookie.
DROPPED_HEADERS = {b"authorization", b"cookie"}
BODY_HEADERS = {b"content-type", b"content-length", b"transfer-encoding"}


def _receive_bytes(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def api_request(
    request: Request, *, token: str | None = None, json_body: dict[str, Any] | None = None,
    query: bytes | None = None, keep_body: bool = False,
) -> Request:
    """``request`` as the bearer of ``token`` would send it to the API.

    ``keep_body`` streams the page request's own body through (uploads); otherwise the
    API request has ``json_body`` or an empty body.
    """
    dropped = DROPPED_HEADERS if keep_body else DROPPED_HEADERS | BODY_HEADERS
    headers = [(name, value) for name, value in request.scope["headers"]
               if name not in dropped]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    receive = request.receive
    if not keep_body:
        body = json.dumps(json_body).encode() if json_body is not None else b""
        headers += [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())]
        receive = _receive_bytes(body)
    scope = {**request.scope, "headers": headers,
             "query_string": request.scope["query_string"] if query is None else query}
    return Request(scope, receive)


async def call_api(
    handler: Handler, request: Request, *, token: str | None = None,
    json_body: dict[str, Any] | None = None, query: bytes | None = None,
    keep_body: bool = False,
) -> Any:
    """Run ``handler`` on ``api_request(...)``; its decoded JSON answer (None for 204)."""
    response = await handler(api_request(request, token=token, json_body=json_body,
                                         query=query, keep_body=keep_body))
    return json.loads(bytes(response.body)) if response.body else None
