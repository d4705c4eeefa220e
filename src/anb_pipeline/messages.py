"""The conventions of the pipeline's Dramatiq messages, in one place.

A step actor is named ``anb_step_<step>``; a fused actor's step is its parts' names joined
by ``+`` (``trim+resize+watermark+bumpers``). The first argument of a step message is the
job (``Job.to_message()``, a dict with ``video_id``). Options the framework sets:

- ``dead_letter_reason`` (:data:`REASON_OPTION`): why a message was dead-lettered without
  raising (poison, a hand-off that can never fit, an unknown actor);
- ``anb_final_job`` (:data:`FINAL_JOB_OPTION`): the last step's result, for ``pipeline_done``;
- ``anb_failed_step`` (:data:`FAILED_STEP_OPTION`): on a dead letter, the configured step
  that failed (a fused actor's part, see :func:`failed_step`);
- ``anb_run`` (:data:`RUN_OPTION`): how many times the video's pipeline was restarted
  (redrive, try again, reconcile), which orders its events without comparing clocks.
"""

from __future__ import annotations

import binascii
from base64 import b64decode
from typing import Any

import dramatiq

STEP_ACTOR_PREFIX = "anb_step_"
#: Joins the names of fused steps into the fused actor's step name.
FUSED_SEPARATOR = "+"
#: Where the last step leaves the final job (output keys) for the pipeline_done event.
FINAL_JOB_OPTION = "anb_final_job"
#: Why a message was dead-lettered when no exception says it.
REASON_OPTION = "dead_letter_reason"
#: The restart count of the video's pipeline; 0 for its first run.
RUN_OPTION = "anb_run"
#: Set on an exception by a fused step: which of its parts failed.
FAILED_STEP_ATTRIBUTE = "anb_failed_step"
#: Set on a dead-lettered message: the configured step its failure belongs to.
FAILED_STEP_OPTION = "anb_failed_step"
#: Error texts are for people: long enough to say what failed, short enough to store.
MAX_ERROR_CHARS = 1000


def actor_name(step: str) -> str:
    """The actor that runs ``step`` (a step name or a fused group's name)."""
    return f"{STEP_ACTOR_PREFIX}{step}"


def step_name(actor: str) -> str | None:
    """The step an actor runs, or None for an actor that is not a pipeline step."""
    if actor.startswith(STEP_ACTOR_PREFIX):
        return actor[len(STEP_ACTOR_PREFIX) :]
    return None


def parts(step: str) -> list[str]:
    """The configured steps an actor's step stands for: one, or a fused group's parts."""
    return step.split(FUSED_SEPARATOR)


def position(step: str, steps: tuple[str, ...]) -> int:
    """Where an actor's ``step`` sits in the configured ``steps``: the index of its first
    part; ``len(steps)`` for a step that is not configured."""
    first = parts(step)[0]
    return steps.index(first) if first in steps else len(steps)


def run_of_message(message: dramatiq.Message[Any] | dramatiq.MessageProxy) -> int:
    """The run a message belongs to (:data:`RUN_OPTION`; 0 when unset)."""
    return int(message.options.get(RUN_OPTION, 0))


def attempt_of(message: dramatiq.Message[Any] | dramatiq.MessageProxy) -> int:
    """Which attempt of its step a message is, from 1 (Dramatiq's ``retries`` option + 1)."""
    return int(message.options.get("retries", 0)) + 1


def failed_step(step: str, exception: BaseException) -> str:
    """The configured step a failure belongs to.

    A fused actor marks the exception with the part whose stage failed when it knows it
    (building a stage); a failure of the shared ffmpeg pass cannot be pinned on one stage
    and belongs to the group's first step.
    """
    named = getattr(exception, FAILED_STEP_ATTRIBUTE, None)
    return named if named in parts(step) else parts(step)[0]


def job_of(message: dramatiq.Message[Any] | dramatiq.MessageProxy) -> dict[str, Any]:
    """The job a step message carries (its first dict argument with a video id), or {}."""
    for arg in message.args:
        if isinstance(arg, dict) and "video_id" in arg:
            return arg
    return {}


def describe(exception: BaseException) -> str:
    """``Type: message``, cut to :data:`MAX_ERROR_CHARS`, for events and dead letters."""
    return f"{type(exception).__name__}: {exception}"[:MAX_ERROR_CHARS]


def decode_body(body: str) -> dramatiq.Message[Any] | None:
    """The Dramatiq message in an SQS body (base64 of its JSON), or None when it is not one."""
    try:
        return dramatiq.Message.decode(b64decode(body, validate=True))
    except (binascii.Error, ValueError, TypeError, dramatiq.errors.DecodeError):
        return None
