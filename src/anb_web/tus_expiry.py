"""Expired resumable uploads go: their multipart upload aborted, tail and joined file
deleted, row removed. Each web process sweeps every ``upload_sweep_interval_s`` (see the
app's lifespan), and a request for an expired upload sweeps first; the bucket's
``AbortIncompleteMultipartUpload`` lifecycle rule is the safety net behind both."""

from __future__ import annotations

import logging
import time

import anyio
from starlette.concurrency import run_in_threadpool

from anb_pipeline import Storage

from . import tus_state
from .state import Services
from .tus_state import UploadState

logger = logging.getLogger(__name__)

SWEEP_BATCH = 100


def discard_storage(storage: Storage, upload: UploadState) -> None:
    """Drop every stored byte of ``upload``: parts, tail, joined file."""
    if upload.multipart_id is not None:
        storage.abort_multipart(upload.storage_key, multipart_id=upload.multipart_id)
    # The joined file is the key itself, the tails are "{key}.tail-*": one prefix.
    storage.delete_prefix(upload.storage_key)


def sweep_expired(app: Services, *, now_s: float | None = None) -> int:
    """Remove every upload past its expiry; returns how many went."""
    now_s = time.time() if now_s is None else now_s
    removed = 0
    while uploads := app.database.call(tus_state.expired, now_s=now_s, limit=SWEEP_BATCH):
        for upload in uploads:
            if upload.video_id is None:
                discard_storage(app.pipeline.storage, upload)
            app.database.call(tus_state.forget, upload_id=upload.id)
            removed += 1
    return removed


async def sweep_forever(app: Services) -> None:
    """``sweep_expired`` every ``upload_sweep_interval_s``; a failed sweep is logged and
    tried again at the next interval."""
    while True:
        try:
            removed = await run_in_threadpool(sweep_expired, app)
        except Exception:
            logger.exception("The sweep of expired resumable uploads failed")
        else:
            if removed:
                logger.info("Removed %d expired resumable upload(s)", removed)
        await anyio.sleep(app.settings.upload_sweep_interval_s)
