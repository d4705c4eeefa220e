"""The framework's exception hierarchy.

    AnbError
    ├── ConfigurationError   a setting is missing or invalid; fix the configuration
    ├── StorageError         storage refused an operation
    │   ├── StorageUnavailable   storage could not be reached (retryable)
    │   └── ObjectNotFound       no object under that key
    ├── BrokerUnavailable    the queue could not be reached (retryable)
    ├── MediaError           ffmpeg or the probe failed on this input (retried)
    │   ├── PermanentMediaError  the input itself is at fault: never retried
    │   │   ├── NotAVideo            the file has no decodable video stream
    │   │   └── MediaUndecodable     ffmpeg cannot decode the file's data
    │   └── MediaTimeout         ffmpeg ran past its timeout and was killed
    └── StepNotFound         a configured step has no plugin
"""

from __future__ import annotations


class AnbError(Exception):
    """Base class of every error the framework raises on purpose."""


class ConfigurationError(AnbError):
    """Raised when a setting or a plug-in name is wrong (a bad ``ANB_*`` value, an
    unsupported URL scheme, an event sink that cannot be loaded); the message names the
    variable and says what to set.
    """
    pass


class StorageError(AnbError):
    """Raised when an object cannot be stored, read or deleted, or when a key is not one
    the code builds (``check_key``).
    """
    pass


class StorageUnavailable(StorageError):
    """Raised when the storage cannot be reached or written (S3 down, a full disk): an
    outage, so a step that meets it is retried.
    """
    pass


class ObjectNotFound(StorageError):
    """Raised when no object is stored under the key; its message is the key."""
    pass


class BrokerUnavailable(AnbError):
    """Raised when the message broker cannot be reached (SQS, Redis or RabbitMQ down), for
    example when a video is enqueued.
    """
    pass


class MediaError(AnbError):
    """Raised when ffmpeg or the probe fails on an input for a reason that may pass
    (a storage URL that cannot be read, a killed process); the step is retried."""


class PermanentMediaError(MediaError):
    """Raised when the input file itself is at fault, so every attempt fails the same way.

    Step actors list it in Dramatiq's ``throws`` actor option: the Retries middleware fails
    the message on its first attempt and it is dead-lettered without backoff. The message
    is one sentence about the file, for its owner.
    """


class NotAVideo(PermanentMediaError):
    """Raised when a file has no video to process: no video stream, only cover art (an
    attached picture), a single still picture, or no frame that decodes."""


class MediaUndecodable(PermanentMediaError):
    """Raised when ffmpeg reports the file's data as invalid or its codec as unknown."""


class MediaTimeout(MediaError):
    """Raised when ffmpeg runs past ``ANB_FFMPEG_TIMEOUT_S`` and is killed; retried like
    any other passing media failure.
    """
    pass


class StepNotFound(AnbError):
    """Raised when ``ANB_STEPS`` names a step that is neither registered nor an
    ``anb_pipeline.steps`` entry point; the message lists the available steps.
    """
    pass
