"""URLs handed to clients, fetchable without an Authorization header.

S3 storage hands out presigned URLs, each kept for a tenth of its lifetime so a listing of
many videos does not sign every URL again on every request (boto3's signing costs CPU). Local
storage has no URL of its own, so the app signs
``/media/{key}?expires=...&signature=...`` itself (HMAC-SHA256 under a key derived from the
JWT secret) and serves it from the ``/media`` route after checking signature and expiry.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlencode

from cachetools import TTLCache
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from anb_pipeline import LocalStorage, Storage, StorageError, check_key

from .errors import ApiError
from .security import derive_key
from .state import services
from .validation import digits

#: Epoch seconds have 10 digits until the year 2286; 12 leave room without letting a
#: 5000-digit ``expires`` reach ``int()``.
MAX_EXPIRES_DIGITS = 12
#: URLs stay identical for ttl / this many seconds; their lifetime is ttl to ttl * 1.1.
URL_WINDOW_DIVISOR = 10
#: Presigned URLs kept at once (a URL is about 500 bytes).
PRESIGNED_CACHE_SIZE = 10_000


class MediaUrls:
    def __init__(
        self, *, storage: Storage, secret: str, ttl_s: int, public_base_url: str = ""
    ) -> None:
        self.storage = storage
        self.key = derive_key(secret, purpose="anb-media-url-v1")
        self.ttl_s = ttl_s
        self.base_url = public_base_url.rstrip("/")
        # A cached URL is handed out for at most a window: it still has 90% of its life.
        self._presigned: TTLCache[str, str] = TTLCache(
            maxsize=PRESIGNED_CACHE_SIZE, ttl=max(1, ttl_s // URL_WINDOW_DIVISOR))
        self._presigned_lock = threading.Lock()

    def url(self, key: str | None) -> str | None:
        if key is None:
            return None
        with self._presigned_lock:
            presigned = self._presigned.get(key)
        if presigned is None:
            presigned = self.storage.presigned_url(key, expires_s=self.ttl_s)
            if presigned is not None:
                with self._presigned_lock:
                    self._presigned[key] = presigned
        if presigned is not None:
            return presigned
        # Expiry rounded up to a whole window: the same object keeps the same URL for a
        # while, so browsers and proxies can cache it, and listings are stable.
        window_s = max(1, self.ttl_s // URL_WINDOW_DIVISOR)
        expires = (int(time.time()) + self.ttl_s + window_s - 1) // window_s * window_s
        query = urlencode({"expires": expires, "signature": self.sign(key, expires=expires)})
        return f"{self.base_url}/media/{quote(key)}?{query}"

    def sign(self, key: str, *, expires: int) -> str:
        message = f"{key}\n{expires}".encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()

    def verify(self, key: str, *, expires: str, signature: str) -> bool:
        expires_at = digits(expires, max_digits=MAX_EXPIRES_DIGITS)
        if expires_at is None or expires_at < time.time():
            return False
        expected = self.sign(key, expires=expires_at)
        return hmac.compare_digest(expected.encode(), signature.encode())


async def serve_media(request: Request) -> Response:
    app = services(request)
    key = request.path_params["key"]
    expires = request.query_params.get("expires", "")
    signature = request.query_params.get("signature", "")
    if not app.urls.verify(key, expires=expires, signature=signature):
        raise ApiError(403, "The link is invalid or has expired")
    path = _local_path(app.pipeline.storage, key)
    if path is None:
        raise ApiError(404, "No such file")
    # FileResponse streams from disk and answers Range requests, which video players use.
    media_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type)


def _local_path(storage: Storage, key: str) -> Path | None:
    """The file behind ``key``, if storage is local and the file is inside its root."""
    if not isinstance(storage, LocalStorage):
        return None
    try:
        path = (storage.root / check_key(key)).resolve()
    except StorageError:
        return None
    return path if storage.root in path.parents and path.is_file() else None


routes = [Route("/media/{key:path}", serve_media, methods=["GET", "HEAD"])]
