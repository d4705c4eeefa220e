"""The operator tools' surface of the pipeline: what ``anb status``, ``anb demo`` and
``anb up`` (in ``anb_web``) use beyond ``anb_pipeline.__all__``.

Dead letters and queue depths (SQS, Redis, RabbitMQ), the local SQS/S3 emulator, the
ffmpeg binary and the output checks of SPEC section 4. Request-serving code uses
``anb_pipeline.__all__`` only.
"""

from __future__ import annotations

from .dlq import DeadLetterQueue
from .emulator import EMULATOR_CREDENTIALS, start_emulator
from .lifeline import PARENT_PID_ENV
from .local_stack import stack_file, write_local_stack
from .media import ffmpeg_exe, run_ffmpeg
from .media.invariants import clip_problems, summary
from .queue_stats import QueueDepth, queue_depths

__all__ = [
    "clip_problems",
    "DeadLetterQueue",
    "EMULATOR_CREDENTIALS",
    "ffmpeg_exe",
    "PARENT_PID_ENV",
    "queue_depths",
    "QueueDepth",
    "run_ffmpeg",
    "stack_file",
    "start_emulator",
    "summary",
    "write_local_stack",
]
