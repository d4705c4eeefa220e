"""The HTML pages: sign up, log in, log out, my videos, showcase and rankings."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from .. import auth, public, videos
from ..errors import ApiError
from .bridge import call_api
from .render import render
from .session import CSRF_FIELD, check_csrf, end_session, keep_cookies, page_session, start_session

SHOWCASE_PAGE_SIZE = 12
RANKINGS_PAGE_SIZE = 20
SIGNUP_FIELDS = ("username", "email", "password", "first_name", "last_name", "city", "country")
#: Where a login may send the browser next: a fixed list, so ``next`` is no open redirect.
NEXT_PAGES = ("/my/videos", "/showcase", "/rankings")


def _next_page(raw: object) -> str:
    return raw if isinstance(raw, str) and raw in NEXT_PAGES else NEXT_PAGES[0]


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _filled(form: FormData, names: tuple[str, ...]) -> dict[str, str]:
    """The non-empty fields: an empty input is left out, as an API client would leave it."""
    return {name: _text(form, name) for name in names if _text(form, name)}


def _signed_in(request: Request, token: str, *, to: str) -> Response:
    response = RedirectResponse(to, status_code=303)
    start_session(response, request, token=token)
    return response


async def home(request: Request) -> Response:
    return RedirectResponse("/showcase", status_code=303)


async def login_form(request: Request) -> Response:
    return await render(request, "login.html", next=_next_page(request.query_params.get("next")),
                        values={}, error=None, errors={})


async def login_submit(request: Request) -> Response:
    form = await request.form()
    body = _filled(form, ("username", "password"))
    values = {"username": body.get("username", "")}
    next_page = _next_page(form.get("next"))
    try:
        check_csrf(request, _text(form, CSRF_FIELD))
        answer = await call_api(auth.login, request, json_body=body)
    except ApiError as exc:
        return await render(request, "login.html", status_code=exc.status_code, next=next_page,
                            values=values, error=exc.detail, errors=exc.errors or {})
    return _signed_in(request, answer["access_token"], to=next_page)


async def signup_form(request: Request) -> Response:
    return await render(request, "signup.html", values={}, error=None, errors={})


async def signup_submit(request: Request) -> Response:
    form = await request.form()
    body = _filled(form, SIGNUP_FIELDS)
    values = {name: value for name, value in body.items() if name != "password"}
    try:
        check_csrf(request, _text(form, CSRF_FIELD))
        answer = await call_api(auth.signup, request, json_body=body)
    except ApiError as exc:
        return await render(request, "signup.html", status_code=exc.status_code, values=values,
                            error=exc.detail, errors=exc.errors or {})
    return _signed_in(request, answer["access_token"], to="/my/videos")


async def logout(request: Request) -> Response:
    form = await request.form()
    check_csrf(request, _text(form, CSRF_FIELD))
    if token := page_session(request).token:
        # Revoked, not only forgotten: a copy of the cookie stops working too.
        try:
            await call_api(auth.logout, request, token=token)
        except ApiError as exc:
            if exc.status_code != 401:  # 401: already ended, nothing to revoke
                raise
    response = RedirectResponse("/showcase", status_code=303)
    end_session(response, request)
    return response


async def my_videos(request: Request) -> Response:
    token = page_session(request).token
    if token is None:
        redirect = RedirectResponse("/login?" + urlencode({"next": "/my/videos"}), status_code=303)
        return keep_cookies(redirect, request)
    items = await call_api(videos.list_videos, request, token=token)
    return await render(request, "my_videos.html", videos=items,
                        max_upload_mib=videos_limit_mib(request))


def videos_limit_mib(request: Request) -> int:
    return max(1, request.app.state.services.settings.max_upload_bytes // (1024 * 1024))


def _page_query(request: Request, *, page_size: int, **extra: str) -> bytes:
    query = {"page": request.query_params.get("page", "1"), "page_size": str(page_size), **extra}
    return urlencode({name: value for name, value in query.items() if value}).encode()


def _pages(answer: dict[str, Any]) -> dict[str, int]:
    last = max(1, -(-answer["total"] // answer["page_size"]))
    return {"page": answer["page"], "last": last, "total": answer["total"]}


async def showcase(request: Request) -> Response:
    answer = await call_api(public.list_published, request, token=page_session(request).token,
                            query=_page_query(request, page_size=SHOWCASE_PAGE_SIZE))
    return await render(request, "showcase.html", videos=answer["items"], pages=_pages(answer))


async def rankings(request: Request) -> Response:
    city = request.query_params.get("city", "").strip()
    try:
        answer = await call_api(public.rankings, request, query=_page_query(
            request, page_size=RANKINGS_PAGE_SIZE, city=city))
    except ApiError as exc:
        # A bad filter keeps the form on screen, with the reason next to the field.
        return await render(request, "rankings.html", status_code=exc.status_code, city=city,
                            rows=[], pages=None, error=exc.detail, errors=exc.errors or {})
    return await render(request, "rankings.html", city=city, rows=answer["items"],
                        pages=_pages(answer), error=None, errors={})
