"""What page scripts call: upload (resumable, by tus), processing status, delete and vote.

Each one needs the session cookie and, when it changes state, the CSRF token (header
``X-CSRF-Token`` from scripts, or the hidden field of a plain form post), then runs the
API's own handler. A script asking for JSON gets exactly the API's answer and status;
a plain form post (no script) is redirected back to its page, or shown a readable error.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from .. import public, tus, videos
from .. import retry as retries
from ..errors import unauthorized
from .bridge import api_request, call_api
from .render import error_page, render
from .session import CSRF_FIELD, CSRF_HEADER, check_csrf, page_session

SESSION_EXPIRED = "Your session has expired. Log in again."


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _token(request: Request) -> str:
    token = page_session(request).token
    if token is None:
        raise unauthorized(SESSION_EXPIRED)
    return token


async def _form_csrf(request: Request) -> None:
    supplied = request.headers.get(CSRF_HEADER)
    if supplied is None:
        form = await request.form()
        field = form.get(CSRF_FIELD)
        supplied = field if isinstance(field, str) else None
    check_csrf(request, supplied)


def _answer(endpoint: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """API errors as the API's JSON for scripts, as a readable page for plain forms."""

    @functools.wraps(endpoint)
    async def wrapped(request: Request) -> Response:
        try:
            return await endpoint(request)
        except HTTPException as exc:
            if _wants_json(request):
                raise
            return error_page(request, status_code=exc.status_code, message=str(exc.detail))

    return wrapped


@_answer
async def upload(request: Request) -> Response:
    token = _token(request)
    # The header, not a form field: the body is a large upload, refused before it is read.
    check_csrf(request, request.headers.get(CSRF_HEADER))
    answer = await call_api(videos.create_video, request, token=token, keep_body=True)
    return JSONResponse(answer, status_code=201)


@_answer
async def status(request: Request) -> Response:
    answer = await call_api(videos.get_video, request, token=_token(request))
    return JSONResponse(answer, headers={"Cache-Control": "no-store"})


@_answer
async def delete(request: Request) -> Response:
    token = _token(request)
    await _form_csrf(request)
    if not _wants_json(request) and (await request.form()).get("confirm") != "yes":
        # Without the page script (and its dialog) the form asks first, on a page of its own.
        video = await call_api(videos.get_video, request, token=token)
        return await render(request, "confirm_delete.html", video=video)
    await call_api(videos.delete_video, request, token=token)
    if _wants_json(request):
        return Response(status_code=204)
    return RedirectResponse("/my/videos", status_code=303)


@_answer
async def vote(request: Request) -> Response:
    token = _token(request)
    await _form_csrf(request)
    answer = await call_api(public.vote, request, token=token)
    if _wants_json(request):
        return JSONResponse(answer, status_code=201)
    return RedirectResponse("/showcase", status_code=303)


@_answer
async def retry(request: Request) -> Response:
    token = _token(request)
    await _form_csrf(request)
    answer = await call_api(retries.retry_video, request, token=token)
    if _wants_json(request):
        return JSONResponse(answer, status_code=202)
    return RedirectResponse("/my/videos", status_code=303)


async def resumable(request: Request) -> Response:
    """The tus endpoint for page scripts (tus-js-client): the session's token as the bearer,
    the CSRF header on every request that writes; the API's tus answer as it is."""
    token = _token(request)
    if request.method != "HEAD":
        check_csrf(request, request.headers.get(CSRF_HEADER))
    return await tus.ENDPOINTS[request.method](api_request(request, token=token, keep_body=True))
