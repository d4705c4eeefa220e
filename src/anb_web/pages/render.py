"""Jinja2 rendering, the security headers of every page, and readable error pages."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import jinja2
import markupsafe
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from anb_pipeline import BrokerUnavailable, StorageError

from ..models import User
from ..state import services
from ..statuses import FINAL_VIDEO_STATUSES, VideoStatus
from .session import CSRF_FIELD, keep_cookies, page_session

logger = logging.getLogger(__name__)

ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("anb_web", "templates"),
    autoescape=jinja2.select_autoescape(default=True),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True, lstrip_blocks=True,
)


def word_breaks(text: str) -> markupsafe.Markup:
    """``text`` escaped, with ``<wbr>`` after each '_', '.' and '-': where a long username
    may wrap on a narrow screen instead of breaking mid-word."""
    return markupsafe.Markup(re.sub(r"([_.\-])", r"\1<wbr>", str(markupsafe.escape(text))))


ENVIRONMENT.filters["word_breaks"] = word_breaks
ENVIRONMENT.globals.update(VideoStatus=VideoStatus, FINAL_VIDEO_STATUSES=FINAL_VIDEO_STATUSES)
#: Scripts and styles come from /static only: an injected inline script would not run.
#: Media may be presigned S3 URLs on another origin, hence the wider img/media sources.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: http: https:; "
        "media-src 'self' http: https:; object-src 'none'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
DEPENDENCY_ERRORS = (BrokerUnavailable, StorageError, OperationalError, PoolTimeout)
UNAVAILABLE = "The service is temporarily unavailable. Please try again in a minute."

PageEndpoint = Callable[[Request], Awaitable[Response]]
ExceptionHandler = Callable[[Request, Exception], "Response | Awaitable[Response]"]
#: Paths whose errors stay JSON whatever the client accepts.
API_PREFIXES = ("/api/", "/page-api/", "/media/", "/health", "/metrics", "/openapi.json")
ERROR_HEADINGS = {0: "Something is not right", 404: "Page not found",
                  405: "This address does not work that way"}
#: Starlette's bare "Not Found"/"Method Not Allowed" say nothing to a visitor.
PAGE_MESSAGES = {
    404: "There is no page at this address. Check the link, or start again from the showcase.",
    405: "This address cannot be opened like that. Start again from the showcase.",
}


def _username(session: Session, *, user_id: str) -> str | None:
    return session.scalar(select(User.username).where(User.id == user_id))


async def current_username(request: Request) -> str | None:
    user_id = page_session(request).user_id
    if user_id is None:
        return None
    return await services(request).database.run(_username, user_id=user_id)


async def render(request: Request, template: str, *, status_code: int = 200,
                 **context: Any) -> Response:
    session = page_session(request)
    html = ENVIRONMENT.get_template(template).render(
        request_path=request.url.path, username=await current_username(request),
        csrf_token=session.csrf_token, csrf_field=CSRF_FIELD, **context,
    )
    response = HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
    return keep_cookies(response, request)


def error_page(request: Request, *, status_code: int, message: str,
               headers: Mapping[str, str] | None = None) -> Response:
    """A plain page with the message; rendered without a database call so it cannot fail."""
    html = ENVIRONMENT.get_template("error.html").render(
        request_path=request.url.path, username=None, status_code=status_code,
        heading=ERROR_HEADINGS.get(status_code, ERROR_HEADINGS[0]),
        message=message, csrf_token="", csrf_field=CSRF_FIELD,
    )
    return HTMLResponse(html, status_code=status_code,
                        headers={**(headers or {}), **SECURITY_HEADERS})


def wants_html(request: Request) -> bool:
    """A browser asking for a page: ``Accept`` names ``text/html`` and the path is not the
    JSON API's (``/api/*`` answers JSON to everyone, browsers included)."""
    if request.url.path.startswith(API_PREFIXES):
        return False
    return "text/html" in request.headers.get("accept", "")


def browser_errors(json_handler: ExceptionHandler) -> ExceptionHandler:
    """The app's HTTPException handler, answering browsers with the site's error page.

    Unknown paths (404) and wrong methods (405) outside the API reach a browser as a page
    with the site's header and a way back; API clients get ``json_handler``'s JSON.
    """

    def handler(request: Request, exc: Exception) -> Response | Awaitable[Response]:
        if not (isinstance(exc, HTTPException) and wants_html(request)):
            return json_handler(request, exc)
        message = PAGE_MESSAGES.get(exc.status_code, str(exc.detail))
        return error_page(request, status_code=exc.status_code, message=message,
                          headers=exc.headers)

    return handler


def html_errors(endpoint: PageEndpoint) -> PageEndpoint:
    """Whatever goes wrong, a page answers with a readable message, never a stack trace."""

    @functools.wraps(endpoint)
    async def wrapped(request: Request) -> Response:
        try:
            return await endpoint(request)
        except HTTPException as exc:
            return error_page(request, status_code=exc.status_code, message=str(exc.detail))
        except DEPENDENCY_ERRORS as exc:
            logger.warning("%s %s: dependency unavailable: %s", request.method,
                           request.url.path, exc)
            return error_page(request, status_code=503, message=UNAVAILABLE)
        except Exception:
            logger.exception("%s %s failed", request.method, request.url.path)
            return error_page(request, status_code=500,
                              message="Something went wrong on our side. Please try again.")

    return wrapped
