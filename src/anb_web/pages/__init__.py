"""Server-rendered pages for players and fans, over the JSON API's own handlers.

Everything is mounted as one sub-router: the pages are not part of the JSON API, so the
OpenAPI document (which lists every API route) does not describe them, and ``/api/*`` is
untouched.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from . import actions, views
from .render import browser_errors, html_errors

PAGES = [
    Route("/", views.home, methods=["GET"]),
    Route("/signup", html_errors(views.signup_form), methods=["GET"]),
    Route("/signup", html_errors(views.signup_submit), methods=["POST"]),
    Route("/login", html_errors(views.login_form), methods=["GET"]),
    Route("/login", html_errors(views.login_submit), methods=["POST"]),
    Route("/logout", html_errors(views.logout), methods=["POST"]),
    Route("/my/videos", html_errors(views.my_videos), methods=["GET"]),
    Route("/showcase", html_errors(views.showcase), methods=["GET"]),
    Route("/rankings", html_errors(views.rankings), methods=["GET"]),
    Route("/page-api/videos", actions.upload, methods=["POST"]),
    Route("/page-api/uploads", actions.resumable, methods=["POST"]),
    Route("/page-api/uploads/{upload_id}", actions.resumable,
          methods=["HEAD", "PATCH", "DELETE"]),
    Route("/page-api/videos/{video_id}", actions.status, methods=["GET"]),
    Route("/page-api/videos/{video_id}/delete", actions.delete, methods=["POST"]),
    Route("/page-api/videos/{video_id}/vote", actions.vote, methods=["POST"]),
    Route("/page-api/videos/{video_id}/retry", actions.retry, methods=["POST"]),
    Mount("/static", StaticFiles(packages=[("anb_web", "static")]), name="static"),
]


class PageMount(Mount):
    """A root mount that claims only the paths its own routes serve.

    A plain ``Mount("")`` matches every path fully, which would beat the API's partial
    (wrong method) matches: ``PUT /api/videos`` must stay the API's JSON 405, and unknown
    paths the app's JSON 404.
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        inner = {**scope, **child_scope}
        if match is Match.NONE or all(route.matches(inner)[0] is Match.NONE for route in self.routes):
            return Match.NONE, {}
        return match, child_scope


routes: list[Any] = [PageMount("", routes=PAGES)]
__all__ = ["PAGES", "PageMount", "browser_errors", "routes"]
