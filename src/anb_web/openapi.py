"""The OpenAPI 3.1 document served at ``/openapi.json``.

The paths, summaries, descriptions and per-status texts are written out here by hand; the
bodies' schemas (``components/schemas``) and the query parameters' schemas are generated
from the pydantic models in ``schemas`` and ``answers``, the same models that validate the
input and build the answers. A test checks that every route the app registers is described
here, method by method; others that the answers and the limits agree with the document.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, models_json_schema
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .answers import Error, ValidationError
from .schemas import (
    Alive,
    CityQuery,
    Health,
    Login,
    PageQuery,
    PublicVideoPage,
    RankingPage,
    RetryResult,
    Signup,
    SignupResult,
    Token,
    Upload,
    UploadResult,
    Video,
    VideoDetail,
    VoteResult,
)
from .tus import OFFSET_CONTENT_TYPE, TUS_EXTENSIONS, TUS_VERSION, VIDEO_ID_HEADER
from .videos import (
    IDEMPOTENCY_HEADER,
    IDEMPOTENCY_KEY,
    IDEMPOTENCY_TTL_S,
    MAX_IDEMPOTENCY_KEY_CHARS,
    REPLAYED_HEADER,
)

JSON = "application/json"
REF_TEMPLATE = "#/components/schemas/{model}"
#: The bodies clients send (their schema as input), and the ones they get (as output).
REQUEST_MODELS: tuple[type[BaseModel], ...] = (Signup, Login, Upload)
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    Error, ValidationError, Token, SignupResult, UploadResult, Video, VideoDetail, RetryResult,
    PublicVideoPage, VoteResult, RankingPage, Health, Alive)


class _Schemas(GenerateJsonSchema):
    """Pydantic's JSON schema without a title on every property (the name says it)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def _components() -> dict[str, Any]:
    """``components/schemas``: every model of a body and every model or enum they use."""
    _, top = models_json_schema(
        [(model, "validation") for model in REQUEST_MODELS]
        + [(model, "serialization") for model in RESPONSE_MODELS],
        ref_template=REF_TEMPLATE, schema_generator=_Schemas)
    return dict(top["$defs"])


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The OpenAPI parameters of a query model: one per field, its schema the field's
    (never null: an absent parameter is the field's default)."""
    schema = model.model_json_schema(schema_generator=_Schemas)
    parameters = []
    for name, field in schema["properties"].items():
        field = dict(field)
        description = field.pop("description", None)
        variants = [variant for variant in field.pop("anyOf", [field])
                    if variant != {"type": "null"}]
        if field.get("default", 0) is None:
            del field["default"]
        parameter = {"name": name, "in": "query", "required": name in schema.get("required", ()),
                     "schema": {**field, **variants[0]}}
        if description is not None:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF_TEMPLATE.format(model=model.__name__)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref(Error), description)


def _string(**extra: Any) -> dict[str, Any]:
    return {"type": "string", **extra}


UNAUTHORIZED = {
    "description": ("The bearer token is missing, malformed, expired or logged out, or its "
                    "account no longer exists"),
    "headers": {"WWW-Authenticate": {"schema": _string(), "description": "Bearer"}},
    "content": {JSON: {"schema": _ref(Error)}},
}
INVALID = _json(_ref(ValidationError), "Invalid input, with a message per field")
SECURED: list[dict[str, list[str]]] = [{"bearer": []}]

VIDEO_ID = {"name": "video_id", "in": "path", "required": True,
            "description": "The video's UUID; a malformed id answers 404",
            "schema": _string(format="uuid")}
PAGE_PARAMS = query_parameters(PageQuery)
SCHEMAS = _components()


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    return {"required": True, "content": {JSON: {"schema": _ref(model)}}}


PATHS: dict[str, Any] = {
    "/api/auth/signup": {"post": {
        "summary": "Create an account", "tags": ["auth"], "requestBody": _json_body(Signup),
        "responses": {"201": _json(_ref(SignupResult), "Created, with a token"),
                      "409": _error("The username or email is taken"), "422": INVALID},
    }},
    "/api/auth/login": {"post": {
        "summary": "Get a token", "tags": ["auth"], "requestBody": _json_body(Login),
        "responses": {"200": _json(_ref(Token), "A bearer token"),
                      "401": _error("Wrong username or password"), "422": INVALID,
                      "429": {**_error("Too many failed logins for this account or client"),
                              "headers": {"Retry-After": {"schema": {"type": "integer"},
                                                          "description": "Seconds"}}}},
    }},
    "/api/auth/logout": {"post": {
        "summary": "Revoke the presented token", "tags": ["auth"], "security": SECURED,
        "description": "Only this token: the user's other sessions stay signed in.",
        "responses": {"204": {"description": "Revoked: the token now gets 401 everywhere"},
                      "401": UNAUTHORIZED},
    }},
    "/api/videos": {
        "post": {
            "summary": "Upload a video", "tags": ["videos"], "security": SECURED,
            "description": (
                "Streamed to storage, probed, stored and enqueued, all or nothing. A client "
                "that may retry (e.g. after losing the response) sends an `Idempotency-Key`: "
                f"for {IDEMPOTENCY_TTL_S // 3600} h every request of the same user with the "
                "same key answers 201 with the video the first one created, without storing "
                "or enqueueing again."),
            "parameters": [{
                "name": IDEMPOTENCY_HEADER, "in": "header", "required": False,
                "description": "An opaque key of the client's choosing, e.g. a UUID, "
                               "one per upload",
                "schema": _string(minLength=1, maxLength=MAX_IDEMPOTENCY_KEY_CHARS,
                                  pattern=f"^{IDEMPOTENCY_KEY.pattern}$"),
            }],
            "requestBody": {"required": True,
                            "content": {"multipart/form-data": {"schema": _ref(Upload)}}},
            "responses": {
                "201": {**_json(_ref(UploadResult), "Accepted for processing, or the "
                                                      "video an earlier request with this "
                                                      "Idempotency-Key created"),
                        "headers": {REPLAYED_HEADER: {
                            "schema": _string(enum=["true"]),
                            "description": "Present when the answer is a replay"}}},
                "408": _error("The body stopped arriving; the connection is closed"),
                "401": UNAUTHORIZED, "413": _error("The file is over the size limit"),
                "415": _error("Not multipart, or not a decodable video"), "422": INVALID,
                "503": _error("Storage, database or queue unavailable; nothing was kept"),
            },
        },
        "get": {
            "summary": "The caller's videos, newest first", "tags": ["videos"],
            "security": SECURED,
            "responses": {"200": _json({"type": "array", "items": _ref(Video)}, "Videos"),
                          "401": UNAUTHORIZED},
        },
    },
    "/api/videos/{video_id}": {
        "parameters": [VIDEO_ID],
        "get": {
            "summary": "One of the caller's videos, with its steps", "tags": ["videos"],
            "security": SECURED,
            "responses": {"200": _json(_ref(VideoDetail), "The video"),
                          "401": UNAUTHORIZED, "403": _error("Another user's video"),
                          "404": _error("No such video")},
        },
        "delete": {
            "summary": "Delete a video and all its files", "tags": ["videos"],
            "security": SECURED,
            "responses": {"204": {"description": "Deleted"}, "401": UNAUTHORIZED,
                          "403": _error("Another user's video"),
                          "404": _error("No such video"),
                          "409": _error("Published and already voted for")},
        },
    },
    "/api/videos/{video_id}/retry": {"post": {
        "summary": "Try processing a failed video again", "tags": ["videos"],
        "security": SECURED, "parameters": [VIDEO_ID],
        "description": "Resumes the pipeline at the failed step with that step's job and "
                       "fresh attempts (like `anb dlq redrive`), at most "
                       "ANB_MAX_RETRIES_PER_VIDEO times per video (default 3).",
        "responses": {"202": _json(_ref(RetryResult), "Queued again"),
                      "401": UNAUTHORIZED, "403": _error("Another user's video"),
                      "404": _error("No such video"),
                      "409": _error("Not failed, a failure of the file itself (the detail "
                                    "says what to do), or no retries left"),
                      "503": _error("The queue is unavailable; the video stays failed")},
    }},
    "/api/public/videos": {"get": {
        "summary": "Published videos", "tags": ["public"], "parameters": PAGE_PARAMS,
        "security": [{}, {"bearer": []}],
        "description": "No login needed. With a bearer token, each item says whether the "
                       "caller has `voted` for it; a token that is sent must be valid.",
        "responses": {"200": _json(_ref(PublicVideoPage), "A page"), "401": UNAUTHORIZED,
                      "422": INVALID},
    }},
    "/api/public/videos/{video_id}/vote": {"post": {
        "summary": "Vote for a published video, once", "tags": ["public"],
        "security": SECURED, "parameters": [VIDEO_ID],
        "responses": {"201": _json(_ref(VoteResult), "Counted"), "401": UNAUTHORIZED,
                      "403": _error("Your own video"),
                      "404": _error("No such published video"),
                      "409": _error("Already voted")},
    }},
    "/api/public/rankings": {"get": {
        "summary": "Players ranked by votes", "tags": ["public"],
        "parameters": [*query_parameters(CityQuery), *PAGE_PARAMS],
        "responses": {"200": _json(_ref(RankingPage), "A page"), "422": INVALID},
    }},
    "/media/{key}": {"get": {
        "summary": "A stored file, through a signed URL (local storage only)",
        "tags": ["media"],
        "parameters": [
            {"name": "key", "in": "path", "required": True, "schema": _string()},
            {"name": "expires", "in": "query", "required": True,
             "schema": {"type": "integer", "description": "Epoch seconds"}},
            {"name": "signature", "in": "query", "required": True, "schema": _string()},
        ],
        "responses": {"200": {"description": "The file; Range requests are honoured"},
                      "206": {"description": "Part of the file"},
                      "403": _error("Bad or expired signature"),
                      "404": _error("No such file")},
    }},
    "/health": {"get": {
        "summary": "Deep health check", "tags": ["health"],
        "responses": {"200": _json(_ref(Health), "Every dependency answers"),
                      "503": _json(_ref(Health), "A dependency is unavailable")},
    }},
    "/health/live": {"get": {
        "summary": "Liveness, for the load balancer", "tags": ["health"],
        "responses": {"200": _json(_ref(Alive), "Alive")},
    }},
    "/metrics": {"get": {
        "summary": "Prometheus metrics (needs ANB_METRICS_TOKEN as a bearer token)",
        "tags": ["meta"], "security": [{"metricsToken": []}],
        "responses": {"200": {"description": "Prometheus text format",
                              "content": {"text/plain": {"schema": _string()}}},
                      "401": _error("Missing or wrong metrics token"),
                      "404": _error("Metrics are not enabled (no ANB_METRICS_TOKEN)")},
    }},
    "/openapi.json": {"get": {
        "summary": "This document", "tags": ["meta"],
        "responses": {"200": {"description": "OpenAPI 3.1", "content": {JSON: {}}}},
    }},
}

def _header(description: str, **schema: Any) -> dict[str, Any]:
    return {"description": description, "schema": schema or _string()}


TUS_RESUMABLE = {"name": "Tus-Resumable", "in": "header", "required": True,
                 "description": "The protocol version; anything else answers 412",
                 "schema": _string(enum=[TUS_VERSION])}
TUS_ANSWER = {"Tus-Resumable": _header("Always " + TUS_VERSION)}
OFFSET = {"type": "integer", "minimum": 0}
UPLOAD_EXPIRES = _header("When the unfinished upload expires (RFC 9110 date)")
TUS_VIDEO_ID = _header("The video the finished upload became", format="uuid")
UPLOAD_ID = {"name": "upload_id", "in": "path", "required": True,
             "description": "The upload's id, the last segment of its Location",
             "schema": _string(pattern="^[0-9a-f]{32}$")}


def _tus_error(description: str) -> dict[str, Any]:
    return {**_error(description), "headers": TUS_ANSWER}


TUS_REFUSALS = {"401": UNAUTHORIZED, "412": _tus_error("Tus-Resumable is not " + TUS_VERSION),
                "503": _error("Storage or database unavailable; retry")}
TUS_DESCRIPTION = (
    f"Resumable uploads by the tus {TUS_VERSION} protocol (https://tus.io) with the "
    f"{', '.join(TUS_EXTENSIONS)} extensions: any tus client (tus-js-client, tuspy, TUSKit) "
    "works. Bytes are stored as they arrive, so a dropped connection resumes from the "
    "offset HEAD answers, on any instance. When the last byte arrives the file is probed "
    f"and the video created and enqueued as by `POST /api/videos`; the final PATCH (and "
    f"every later HEAD) names it in `{VIDEO_ID_HEADER}`. Unfinished uploads expire "
    "(`Upload-Expires`) and are then removed with their stored bytes.")
TUS_PATHS: dict[str, Any] = {
    "/api/uploads/": {
        "options": {
            "summary": "The server's tus capabilities", "tags": ["uploads"],
            "description": TUS_DESCRIPTION,
            "responses": {"204": {"description": "Capabilities", "headers": {
                "Tus-Version": _header("Supported versions", enum=[TUS_VERSION]),
                "Tus-Extension": _header("Supported extensions"),
                "Tus-Max-Size": _header("The largest Upload-Length, in bytes", type="integer"),
                **TUS_ANSWER}}},
        },
        "post": {
            "summary": "Create a resumable upload (tus creation)", "tags": ["uploads"],
            "security": SECURED, "description": TUS_DESCRIPTION,
            "parameters": [
                TUS_RESUMABLE,
                {"name": "Upload-Length", "in": "header", "required": True,
                 "description": "The file's size in bytes (Upload-Defer-Length is refused)",
                 "schema": {"type": "integer", "minimum": 1}},
                {"name": "Upload-Metadata", "in": "header", "required": True,
                 "description": "Comma-separated `key base64(value)` pairs: `title` "
                                "(required), `description`, `filename` (shown only, never "
                                "part of a storage key)",
                 "schema": _string()},
            ],
            "requestBody": {"required": False, "description": "creation-with-upload: the "
                            "first bytes of the file", "content": {
                                OFFSET_CONTENT_TYPE: {"schema": _string(format="binary")}}},
            "responses": {
                "201": {"description": "Created", "headers": {
                    "Location": _header("The upload's URL", format="uri"),
                    "Upload-Offset": _header("Bytes stored, when the POST had a body",
                                             **OFFSET),
                    "Upload-Expires": UPLOAD_EXPIRES, VIDEO_ID_HEADER: TUS_VIDEO_ID,
                    **TUS_ANSWER}},
                "400": _tus_error("Upload-Length missing or not a number, deferred length, "
                                  "or malformed Upload-Metadata"),
                "413": _tus_error("Upload-Length is over Tus-Max-Size; nothing was stored"),
                "415": _tus_error("An empty file, a body that is not "
                                  f"{OFFSET_CONTENT_TYPE}, or (all bytes sent) not a video"),
                "422": INVALID, **TUS_REFUSALS,
            },
        },
    },
    "/api/uploads/{upload_id}": {
        "parameters": [UPLOAD_ID, TUS_RESUMABLE],
        "head": {
            "summary": "The upload's offset", "tags": ["uploads"], "security": SECURED,
            "responses": {
                "200": {"description": "Offset, length, and the video once finished",
                        "headers": {"Upload-Offset": _header("Bytes stored", **OFFSET),
                                    "Upload-Length": _header("The file's size", **OFFSET),
                                    "Upload-Expires": UPLOAD_EXPIRES,
                                    VIDEO_ID_HEADER: TUS_VIDEO_ID,
                                    "Cache-Control": _header("no-store"), **TUS_ANSWER}},
                "403": _tus_error("Another user's upload"),
                "404": _tus_error("No such upload: never created, terminated, or expired"),
                **TUS_REFUSALS,
            },
        },
        "patch": {
            "summary": "Append bytes at the upload's offset", "tags": ["uploads"],
            "security": SECURED,
            "parameters": [{"name": "Upload-Offset", "in": "header", "required": True,
                            "description": "The offset HEAD answered", "schema": OFFSET}],
            "requestBody": {"required": True, "content": {
                OFFSET_CONTENT_TYPE: {"schema": _string(format="binary")}}},
            "responses": {
                "204": {"description": "Stored", "headers": {
                    "Upload-Offset": _header("Bytes stored now", **OFFSET),
                    "Upload-Expires": UPLOAD_EXPIRES, VIDEO_ID_HEADER: TUS_VIDEO_ID,
                    **TUS_ANSWER}},
                "400": _tus_error("Upload-Offset missing or not a number"),
                "403": _tus_error("Another user's upload"),
                "404": _tus_error("No such upload: never created, terminated, or expired"),
                "408": _error("The body stopped arriving; what arrived is kept"),
                "409": _tus_error("Upload-Offset is not the upload's offset, or a newer "
                                  "request took the upload over; ask HEAD"),
                "413": _tus_error("The body goes past Upload-Length"),
                "415": _tus_error(f"Not {OFFSET_CONTENT_TYPE}, or (last byte) not a video: "
                                  "the upload and its bytes are gone"),
                **TUS_REFUSALS,
            },
        },
        "delete": {
            "summary": "Terminate the upload and delete its stored bytes", "tags": ["uploads"],
            "security": SECURED,
            "responses": {
                "204": {"description": "Terminated", "headers": TUS_ANSWER},
                "403": _tus_error("Another user's upload"),
                "404": _tus_error("No such upload"), **TUS_REFUSALS,
            },
        },
    },
}


DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "ANB Rising Stars Showcase API", "version": "1.0.0"},
    "paths": {**PATHS, **TUS_PATHS},
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            "metricsToken": {"type": "http", "scheme": "bearer",
                             "description": "The value of ANB_METRICS_TOKEN, not a user token"},
        },
    },
}


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(DOCUMENT)


routes = [Route("/openapi.json", openapi, methods=["GET"])]
