"""What anyone can see: published videos and rankings; and voting, which needs a login."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .answers import respond
from .auth import authenticate
from .errors import ACCOUNT_GONE, ApiError, unauthorized
from .models import User, Video, Vote, fold
from .schemas import (
    CityQuery,
    PageQuery,
    Player,
    PublicVideo,
    PublicVideoPage,
    Ranking,
    RankingPage,
    VoteResult,
)
from .state import Services, services
from .statuses import VideoStatus
from .validation import parse, video_id
from .videos import votes_count

PUBLISHED = VideoStatus.PROCESSED


def _page(
    session: Session, statement: Select[Any], *, page: int, page_size: int
) -> tuple[list[Any], int]:
    """One page of rows plus the total, from a single query with a window count."""
    rows = session.execute(
        statement.add_columns(func.count().over().label("total"))
        .limit(page_size).offset((page - 1) * page_size)
    ).all()
    if rows:
        return list(rows), int(rows[0].total)
    # Past the last page the window has no row to ride on; count separately.
    total = session.scalar(select(func.count()).select_from(statement.subquery()))
    return [], int(total or 0)


def _published(
    session: Session, *, page: int, page_size: int, voter_id: str | None
) -> tuple[list[Any], int]:
    statement = (
        select(Video.id, Video.title, Video.output_key, Video.poster_key, Video.created_at,
               User.username, User.city, User.country, votes_count())
        .join(User, User.id == Video.user_id)
        .where(Video.status == PUBLISHED)
        .order_by(Video.created_at.desc(), Video.seq.desc())
    )
    if voter_id is not None:
        # In the same query (a correlated EXISTS on the unique vote), not one per row.
        statement = statement.add_columns(
            exists().where(Vote.video_id == Video.id, Vote.user_id == voter_id).label("voted"))
    return _page(session, statement, page=page, page_size=page_size)


def _public_video(app: Services, row: Any, *, with_vote: bool) -> PublicVideo:
    """One item of ``list_published``; ``voted`` only ``with_vote``."""
    processed_url, poster_url = app.urls.url(row.output_key), app.urls.url(row.poster_key)
    # The sink writes both keys with the processed status.
    assert processed_url is not None and poster_url is not None
    video = PublicVideo(
        id=row.id, title=row.title,
        player=Player(username=row.username, city=row.city, country=row.country),
        processed_url=processed_url, poster_url=poster_url, votes=int(row.votes),
        created_at=row.created_at)
    if with_vote:
        video.voted = bool(row.voted)
    return video


async def list_published(request: Request) -> JSONResponse:
    """Published videos, newest first. With a bearer token (optional here; when sent it must
    be valid), every item also says whether the caller has ``voted`` for it."""
    app = services(request)
    query = parse(PageQuery, request.query_params)
    voter_id = await authenticate(request) if "authorization" in request.headers else None
    rows, total = await app.database.run(_published, page=query.page, page_size=query.page_size,
                                         voter_id=voter_id)
    items = [_public_video(app, row, with_vote=voter_id is not None) for row in rows]
    return respond(PublicVideoPage(items=items, total=total, page=query.page,
                                   page_size=query.page_size))


def _vote(session: Session, *, video_id: str, user_id: str) -> int:
    video = session.execute(select(Video.user_id, Video.status)
                            .where(Video.id == video_id)).first()
    if video is None or video.status != PUBLISHED:
        raise ApiError(404, "No such published video")
    if video.user_id == user_id:
        raise ApiError(403, "You cannot vote for your own video")
    session.add(Vote(user_id=user_id, video_id=video_id))
    # The unique (user_id, video_id) constraint decides between concurrent votes.
    session.flush()
    return int(session.scalar(select(func.count(Vote.id)).where(Vote.video_id == video_id)) or 0)


def _refusal(session: Session, *, video_id: str, user_id: str) -> ApiError:
    """Why the database refused a vote row: the voter's account, or the video, was deleted
    after the first checks (each is a foreign key), or the vote exists (the unique pair)."""
    if session.get(User, user_id) is None:
        return unauthorized(ACCOUNT_GONE)
    published = session.scalar(select(Video.id).where(Video.id == video_id,
                                                       Video.status == PUBLISHED))
    if published is None:
        return ApiError(404, "No such published video")
    return ApiError(409, "You have already voted for this video")


async def vote(request: Request) -> JSONResponse:
    app = services(request)
    user_id = await authenticate(request)
    target = video_id(request.path_params["video_id"])
    if target is None:
        raise ApiError(404, "No such published video")
    try:
        votes = await app.database.run(_vote, video_id=target, user_id=user_id)
    except IntegrityError:
        # Any of three constraints can refuse the row; only this rare path pays for telling
        # them apart.
        raise await app.database.run(_refusal, video_id=target, user_id=user_id) from None
    return respond(VoteResult(video_id=target, votes=votes), status_code=201)


def _rankings(
    session: Session, *, city_key: str | None, page: int, page_size: int
) -> tuple[list[Any], int]:
    per_video = (select(Vote.video_id, func.count().label("n"))
                 .group_by(Vote.video_id).subquery())
    votes = func.coalesce(func.sum(per_video.c.n), 0)
    statement = (
        select(User.username, User.city, User.country, votes.label("votes"))
        .join(Video, and_(Video.user_id == User.id, Video.status == PUBLISHED))
        .outerjoin(per_video, per_video.c.video_id == Video.id)
        .group_by(User.id, User.username, User.city, User.country, User.username_key)
        # Most votes first (so 0-vote players come last); the unique username key breaks ties.
        .order_by(votes.desc(), User.username_key.asc())
    )
    if city_key is not None:
        statement = statement.where(User.city_key == city_key)
    return _page(session, statement, page=page, page_size=page_size)


async def rankings(request: Request) -> JSONResponse:
    app = services(request)
    # The page first, then the city: a bad page is reported alone, as it always was.
    query = parse(PageQuery, request.query_params)
    city = parse(CityQuery, request.query_params).city
    rows, total = await app.database.run(_rankings, city_key=fold(city) if city else None,
                                         page=query.page, page_size=query.page_size)
    first = (query.page - 1) * query.page_size + 1
    items = [Ranking(position=first + index, username=row.username, city=row.city,
                     country=row.country, votes=int(row.votes))
             for index, row in enumerate(rows)]
    return respond(RankingPage(items=items, total=total, page=query.page,
                               page_size=query.page_size))


routes = [
    Route("/api/public/videos", list_published, methods=["GET"]),
    Route("/api/public/videos/{video_id}/vote", vote, methods=["POST"]),
    Route("/api/public/rankings", rankings, methods=["GET"]),
]
