"""The storage layout: where each object of a video lives, in one place.

Keys are built here from the video's id (a UUID the web tier makes) and never from user
input:

- ``originals/<video_id>.<ext>``: the upload, ``ext`` from probing its container;
- ``work/<video_id>/<step>.<ext>``: a step's intermediate artifact, the same key on every
  delivery of the step, so a redelivered step overwrites rather than adds;
- ``processed/<video_id>.mp4`` and ``processed/<video_id>.jpg``: the published clip and
  its poster (SPEC section 4);
- ``uploads/<upload_id>`` (and ``uploads/<upload_id>.tail-<random>``): a resumable upload
  being received, copied to ``originals/`` when it completes (the bucket's lifecycle rule
  expires what an interrupted sweep leaves there).
"""

from __future__ import annotations

ORIGINALS_PREFIX = "originals"
WORK_PREFIX = "work"
OUTPUT_PREFIX = "processed"
UPLOADS_PREFIX = "uploads"
#: The extension of the published clip (H.264/AAC in MP4).
CLIP_EXTENSION = "mp4"
#: The extension of the published poster (a JPEG frame).
POSTER_EXTENSION = "jpg"


def original_key(*, video_id: str, extension: str) -> str:
    """``originals/<video_id>.<extension>``: where the upload is stored."""
    return f"{originals_prefix(video_id)}{extension}"


def originals_prefix(video_id: str) -> str:
    """``originals/<video_id>.``: the prefix of the upload whatever its extension."""
    return f"{ORIGINALS_PREFIX}/{video_id}."


def work_prefix(video_id: str) -> str:
    """``work/<video_id>/``: the prefix of every intermediate artifact of the video."""
    return f"{WORK_PREFIX}/{video_id}/"


def artifact_key(*, video_id: str, step: str, extension: str) -> str:
    """``work/<video_id>/<step>.<extension>``: deterministic, so a redelivered step
    rewrites the same key, never a new one."""
    return f"{work_prefix(video_id)}{step}.{extension}"


def output_key(*, video_id: str, extension: str) -> str:
    """``processed/<video_id>.<extension>``: a published object of the video."""
    return f"{OUTPUT_PREFIX}/{video_id}.{extension}"


def clip_key(video_id: str) -> str:
    """``processed/<video_id>.mp4``: the published clip."""
    return output_key(video_id=video_id, extension=CLIP_EXTENSION)


def poster_key(video_id: str) -> str:
    """``processed/<video_id>.jpg``: the published poster."""
    return output_key(video_id=video_id, extension=POSTER_EXTENSION)


def upload_key(upload_id: str) -> str:
    """``uploads/<upload_id>``: where a resumable upload is assembled."""
    return f"{UPLOADS_PREFIX}/{upload_id}"


def upload_tail_key(upload_id: str, *, nonce: str) -> str:
    """``uploads/<upload_id>.tail-<nonce>``: the bytes of a resumable upload past its last
    whole part; a fresh ``nonce`` per write, so a superseded writer never overwrites it."""
    return f"{upload_key(upload_id)}.tail-{nonce}"
