"""Probes a media file with PyAV: the facts the steps and the upload check need.

The video stream is chosen here and only here (:func:`video_stream`): the probe, the filter
graph and every step read the stream whose index the probe reports.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
from fractions import Fraction
from pathlib import Path

import av

from ..errors import MediaError, NotAVideo
from .colour import Colour
from .ffmpeg import ffmpeg_exe

#: AVFieldOrder: 2 top field first (coded and displayed), 3 bottom, 4/5 mixed (coded order
#: differs from display order; the display's first field is what a deinterlacer wants).
FIELD_ORDERS = {2: "tff", 3: "bff", 4: "tff", 5: "bff"}
#: The same AVFieldOrder codes as ffmpeg's description of a video stream words them
#: (libavcodec's avcodec_string), for PyAV < 18, which does not expose the codec's field order.
FIELD_ORDER_WORDS = {"top first": 2, "bottom first": 3, "top coded first (swapped)": 4,
                     "bottom coded first (swapped)": 5}
#: Seconds ffmpeg may take to describe a file's streams.
DESCRIBE_TIMEOUT_S = 30
#: Picture formats that animate when they hold more than one frame.
IMAGE_ANIMATION_FORMATS = frozenset({"gif", "apng", "webp", "jpegxl_anim"})
#: av errors that a file's own bytes cause; reading it again gives the same answer.
_FILE_FAULTS = (av.error.InvalidDataError, av.error.DecoderNotFoundError,
                av.error.DemuxerNotFoundError, av.error.PatchWelcomeError, av.error.EOFError,
                av.error.UndefinedError)


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What ``probe`` learns of a file's video stream and container (PyAV)."""
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
    #: The container's index of the video stream (attached pictures are never chosen).
    stream_index: int = 0
    colour: Colour = Colour(range=None, matrix=None, primaries=None, transfer=None)
    #: "tff" or "bff" when the stream declares interlacing, "auto" when only its frames do
    #: (their flags then give the field order); None when progressive.
    field_order: str | None = None
    #: True when the container hides decoded frames before the presentation start (an MP4
    #: edit list cut from a non-keyframe): a stream copy would bring them back.
    hidden_lead_in: bool = False

    @property
    def display_size(self) -> tuple[float, float]:
        """Width and height as a player shows them: SAR applied, rotation applied."""
        width = self.width * float(self.sample_aspect_ratio or 1)
        if self.rotation % 180:
            return float(self.height), width
        return width, float(self.height)


def video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    """The video of a file: its first video stream that is not an attached picture (the
    cover art of MP3 ID3 APIC, MP4 ``covr``, FLAC/Ogg picture blocks).

    Raises NotAVideo when there is none.
    """
    streams = container.streams.video
    for stream in streams:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    if streams:
        raise NotAVideo("its only picture is cover art (an attached picture)")
    raise NotAVideo("it has no video stream")


def probe(path: Path | str) -> VideoInfo:
    """Facts of the video stream of ``path`` (a file or a URL).

    Raises NotAVideo when the file has no video stream other than cover art, when its
    first frame does not decode, or when it holds a single picture (a still image); its
    message completes "the file is not a video: ...". Raises MediaError when a URL cannot
    be read (possibly transient).
    """
    local = isinstance(path, Path) or "://" not in path
    try:
        with av.open(str(path)) as container:
            stream = video_stream(container)
            first, hidden = _first_frames(container, stream)
            return VideoInfo(
                codec=stream.codec_context.name,
                pix_fmt=stream.codec_context.pix_fmt,
                width=first.width,
                height=first.height,
                sample_aspect_ratio=Fraction(stream.sample_aspect_ratio or 1),
                rotation=int(getattr(first, "rotation", 0) or 0),
                fps=float(stream.average_rate or stream.guessed_rate or 0),
                duration_s=_duration_s(container, stream),
                audio_streams=len(container.streams.audio),
                format_name=container.format.name,
                faststart=_moov_first(Path(path)) if local else None,
                stream_index=stream.index,
                colour=_colour(stream, first),
                field_order=_field_order(stream, first, source=str(path)),
                hidden_lead_in=hidden,
            )
    except av.FFmpegError as exc:
        # strerror only: the full text names the file's path, which is nobody's business.
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        if local or isinstance(exc, _FILE_FAULTS):
            raise NotAVideo(f"its data cannot be decoded ({reason})") from exc
        raise MediaError(f"the video could not be read ({reason})") from exc


def _first_frames(container: av.container.InputContainer,
                  stream: av.video.stream.VideoStream) -> tuple[av.VideoFrame, bool]:
    """The first frame and whether packets the container marks as discarded (an edit
    list's lead-in) precede it. Decodes a second frame when there is one: a single frame
    from an image format is a still picture (NotAVideo)."""
    hidden = False
    frames: list[av.VideoFrame] = []
    for packet in container.demux(stream):
        hidden = hidden or (packet.is_discard and packet.size > 0)
        frames.extend(packet.decode())
        if len(frames) >= 2:
            return frames[0], hidden
    if not frames:
        raise NotAVideo("its video stream has no frame that decodes")
    if _is_image_format(container.format.name):
        raise NotAVideo("it holds a single still picture")
    # One frame in a video container (a 1 fps clip, a one-frame cut) is still a video.
    return frames[0], hidden


def _is_image_format(format_name: str) -> bool:
    """ffmpeg's image demuxers: ``image2`` (by file name), ``*_pipe`` (by content), and the
    animated-image formats, which hold a still when they hold one frame."""
    return any(name == "image2" or name.endswith("_pipe") or name in IMAGE_ANIMATION_FORMATS
               for name in format_name.split(","))


def _colour(stream: av.video.stream.VideoStream, frame: av.VideoFrame) -> Colour:
    # The decoded frame carries the bitstream's tags; the stream adds the container's.
    context = stream.codec_context
    return Colour.from_codes(
        range_code=int(frame.color_range or context.color_range or 0),
        matrix_code=int(frame.colorspace if frame.colorspace not in (None, 2)
                        else context.colorspace or 2),
        primaries_code=int(context.color_primaries or 2),
        transfer_code=int(context.color_trc or 2),
        pix_fmt=context.pix_fmt,
    )


def _field_order(stream: av.video.stream.VideoStream, frame: av.VideoFrame, *, source: str) -> str | None:
    declared = FIELD_ORDERS.get(_field_order_code(stream, source=source))
    if declared is not None:
        return declared
    # The frame says interlaced but not which field is first: bwdif reads it per frame.
    return "auto" if frame.interlaced_frame else None


def _field_order_code(stream: av.video.stream.VideoStream, *, source: str) -> int:
    """The stream's AVFieldOrder (0 unknown, 1 progressive, 2..5 interlaced).

    PyAV 18 reads it from the codec context; older PyAV (17.1 is the newest for Python 3.10)
    does not expose it, so ffmpeg's own description of the stream (``ffmpeg -i``) says it.
    """
    context = stream.codec_context
    if hasattr(context, "field_order"):
        return int(context.field_order or 0)
    try:
        described = subprocess.run(
            [ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", source], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=DESCRIBE_TIMEOUT_S, check=False,
        ).stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        return 0
    line = re.search(rf"Stream #0:{stream.index}\b.*?: Video: (.*)", described)
    if line is None:
        return 0
    return next((code for word, code in FIELD_ORDER_WORDS.items() if word in line.group(1)), 0)


def _duration_s(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    """The stream's duration, else the container's, else the end of the last packet (a
    MediaRecorder WebM says neither)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    container.seek(0)
    start: float | None = None
    end = 0.0
    for packet in container.demux(stream):
        if packet.pts is None or packet.time_base is None:
            continue
        begins = float(packet.pts * packet.time_base)
        start = begins if start is None else min(start, begins)
        end = max(end, begins + float((packet.duration or 0) * packet.time_base))
    return max(end - (start or 0.0), 0.0)


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
