"""A deadline on request bodies: a client that stops sending mid-body is answered and dropped.

Uvicorn bounds idle keep-alive connections but not a body that stops arriving; without a
deadline, each stalled upload holds a connection, a spool file and a task forever. This
middleware bounds the wait for each body chunk; once the body is complete (or the request
had none) ``receive`` is passed through untouched, so a long download's disconnect watch
is never cut short.
"""

from __future__ import annotations

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ApiError


class BodyStalled(ApiError):
    """Raised when no body bytes arrived for the idle deadline: answered 408, connection closed."""

    def __init__(self, idle_timeout_s: float) -> None:
        super().__init__(408, f"The request body stopped arriving for {idle_timeout_s:g} s",
                         headers={"Connection": "close"})


class RequestBodyDeadline:
    def __init__(self, app: ASGIApp, *, idle_timeout_s: float) -> None:
        self.app = app
        self.idle_timeout_s = idle_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_done = False

        async def receive_within_deadline() -> Message:
            nonlocal body_done
            if body_done:
                return await receive()
            try:
                with anyio.fail_after(self.idle_timeout_s):
                    message = await receive()
            except TimeoutError:
                raise BodyStalled(self.idle_timeout_s) from None
            body_done = message["type"] != "http.request" or not message.get("more_body")
            return message

        await self.app(scope, receive_within_deadline, send)
