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
    pass


class StorageError(AnbError):
    pass


class StorageUnavailable(StorageError):
    pass


class ObjectNotFound(StorageError):
    pass


class BrokerUnavailable(AnbError):
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
    pass


class StepNotFound(AnbError):
    pass
