"""The framework's exception hierarchy.

    AnbError
    ├── ConfigurationError   a setting is missing or invalid; fix the configuration
    ├── StorageError         storage refused an operation
    │   ├── StorageUnavailable   storage could not be reached (retryable)
    │   └── ObjectNotFound       no object under that key
    ├── BrokerUnavailable    the queue could not be reached (retryable)
    ├── MediaError           ffmpeg or the probe failed on this input
    │   ├── NotAVideo            the file has no decodable video stream
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
    pass


class NotAVideo(MediaError):
    pass


class MediaTimeout(MediaError):
    pass


class StepNotFound(AnbError):
    pass
