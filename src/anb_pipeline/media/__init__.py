"""Media primitives: the ffmpeg binary, its runner, and the probe."""

from .ffmpeg import ffmpeg_exe, run_ffmpeg
from .geometry import ContentBox, fit_box
from .probe import VideoInfo, probe

__all__ = ["ContentBox", "VideoInfo", "ffmpeg_exe", "fit_box", "probe", "run_ffmpeg"]
