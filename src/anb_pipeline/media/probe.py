"""Probes a media file with PyAV: the facts the steps and the upload check need."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path

import av

from ..errors import NotAVideo


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    codec: str
    pix_fmt: str | None
    #: Coded size, before rotation and sample aspect ratio.
    width: int
    height: int
    sample_aspect_ratio: Fraction
    rotation: int
    #: Average frame rate in frames per second; 0.0 when the file does not say.
    fps: float
    duration_s: float
    audio_streams: int
    format_name: str
    #: moov before mdat: an MP4 a browser can start playing before it has it all.
    #: None when the source is a URL (only local files are walked).
    faststart: bool | None

    @property
    def display_size(self) -> tuple[float, float]:
        """Width and height as a player shows them: SAR applied, rotation applied."""
        width = self.width * float(self.sample_aspect_ratio or 1)
        if self.rotation % 180:
            return float(self.height), width
        return width, float(self.height)


def probe(path: Path | str) -> VideoInfo:
    """Raise NotAVideo unless ``path`` (a file or a URL) holds a video stream whose first
    frame decodes."""
    local = isinstance(path, Path) or "://" not in path
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise NotAVideo("the file has no video stream")
            stream = container.streams.video[0]
            frame = next(container.decode(stream), None)
            if frame is None:
                raise NotAVideo("the video stream has no decodable frame")
            return VideoInfo(
                codec=stream.codec_context.name,
                pix_fmt=stream.codec_context.pix_fmt,
                width=frame.width,
                height=frame.height,
                sample_aspect_ratio=Fraction(stream.sample_aspect_ratio or 1),
                rotation=int(getattr(frame, "rotation", 0) or 0),
                fps=float(stream.average_rate or stream.guessed_rate or 0),
                duration_s=_duration_s(container, stream),
                audio_streams=len(container.streams.audio),
                format_name=container.format.name,
                faststart=_moov_first(Path(path)) if local else None,
            )
    except av.FFmpegError as exc:
        # strerror only: the full text names the file's path, which is nobody's business.
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise NotAVideo(f"not a decodable video ({reason})") from exc


def _duration_s(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _moov_first(path: Path) -> bool:
    """Walk the top-level MP4 boxes; True when ``moov`` comes before ``mdat``."""
    with open(path, "rb") as stream:
        while header := stream.read(8):
            if len(header) < 8:
                return False
            size, kind = int.from_bytes(header[:4], "big"), header[4:8]
            if kind == b"moov":
                return True
            if kind == b"mdat":
                return False
            if size == 1:
                size = int.from_bytes(stream.read(8), "big") - 8
            elif size == 0:
                return False
            stream.seek(size - 8, 1)
    return False
