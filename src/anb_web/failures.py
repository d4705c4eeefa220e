"""What a failed video's error means for its owner: one readable sentence, and whether
"Try again" can help.

The pipeline stores a failure as the failed step (a fused run's name joins its parts with
``+``) and ``"ExceptionType: details"`` (``anb_pipeline.messages.describe``).
The explanation is keyed on that exception type name, here and nowhere else; a message
without a known type (a worker that kept dying, a lost hand-off) is our fault.
"""

from __future__ import annotations

import dataclasses
import re

from .models import Video
from .schemas import VideoError

#: ``"TypeName: details"``: the type name a stored error starts with.
ERROR_TYPE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*): ")
FINAL_STEP = "upload"


@dataclasses.dataclass(frozen=True)
class Explanation:
    #: One or two sentences for the owner: what went wrong and what to do.
    reason: str
    #: True when the failure was ours and running the pipeline again can help.
    retryable: bool


YOUR_FILE = Explanation(
    "We could not read a video in your file: it may be damaged, cut short or in a format we do "
    "not support. Please upload another file (MP4 or MOV from a phone or camera works best).",
    retryable=False,
)
TOO_SLOW = Explanation(
    "Converting your video took longer than we allow. This is usually on our side: try again. "
    "If it fails again, upload a shorter or smaller file.",
    retryable=True,
)
CONVERSION = Explanation(
    "Converting your video failed. Try again; if it fails again, the file is likely the "
    "problem: upload another one.",
    retryable=True,
)
OURS_CONVERTING = Explanation(
    "Something went wrong on our side while converting your video; your file is fine. "
    "Please try again.",
    retryable=True,
)
OURS_PUBLISHING = Explanation(
    "Your video was converted, but publishing it failed on our side; your file is fine. "
    "Please try again.",
    retryable=True,
)

#: Exception type name -> explanation. Types not listed are our fault (see ``explain``).
BY_ERROR_TYPE: dict[str, Explanation] = {
    # Deterministic media failures: the same file fails the same way every time.
    "NotAVideo": YOUR_FILE,
    "PermanentMediaError": YOUR_FILE,
    "MediaTimeout": TOO_SLOW,
    "MediaError": CONVERSION,
}


def error_type(message: str | None) -> str | None:
    found = ERROR_TYPE.match(message or "")
    return found.group(1) if found else None


def explain(*, step: str | None, message: str | None) -> Explanation:
    """The owner's explanation of a failure at ``step`` with the stored ``message``."""
    known = BY_ERROR_TYPE.get(error_type(message) or "")
    if known is not None:
        return known
    return OURS_PUBLISHING if step == FINAL_STEP else OURS_CONVERTING


def failure(video: Video, *, max_retries: int) -> VideoError:
    """A failed video's ``error`` in the API."""
    explanation = explain(step=video.error_step, message=video.error_message)
    retries_left = max(0, max_retries - (video.retries or 0))
    # A failed video always has both (the sink and reconcile write them with the status).
    return VideoError(step=video.error_step or "", message=video.error_message or "",
                      reason=explanation.reason,
                      retryable=explanation.retryable and retries_left > 0,
                      retries_left=retries_left)
