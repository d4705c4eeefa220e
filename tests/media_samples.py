"""Camera-shaped test inputs made with the bundled ffmpeg, and colour measured by numbers.

The patch picture holds 8 flat patches of known RGB (two rows of four on a 16:9 canvas).
A patch is read as the per-channel median over the central 40% of its box, away from edges,
chroma bleed and the watermark. Video frames are decoded as BT.709 limited range by the
formulas here (Kr 0.2126, Kb 0.0722; Y' 16-235, Cb/Cr 16-240), whatever the file's tags say.
"""

from __future__ import annotations

import statistics
import subprocess
from pathlib import Path

import av
from PIL import Image, ImageDraw

from anb_pipeline.media import ffmpeg_exe

RGB = tuple[int, int, int]
#: name -> box on a 320x180 canvas (x0, y0, x1, y1; x1/y1 exclusive) and its RGB.
PATCHES: dict[str, tuple[int, int, int, int, RGB]] = {
    "red": (0, 0, 80, 90, (200, 50, 40)),
    "green": (80, 0, 160, 90, (40, 180, 50)),
    "blue": (160, 0, 240, 90, (40, 70, 200)),
    "white": (240, 0, 320, 90, (235, 235, 235)),
    "black": (0, 90, 80, 180, (16, 16, 16)),
    "gray": (80, 90, 160, 180, (128, 128, 128)),
    "skin": (160, 90, 240, 180, (224, 160, 128)),
    "yellow": (240, 90, 320, 180, (230, 210, 60)),
}
EXPECTED: dict[str, RGB] = {name: patch[4] for name, patch in PATCHES.items()}
#: Upright markers: a red block top-left, a lime block top-right, a quarter of each side.
MARKERS = ("drawbox=x=0:y=0:w=iw/4:h=ih/4:color=red:t=fill,"
           "drawbox=x=iw*3/4:y=0:w=iw/4:h=ih/4:color=lime:t=fill")


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args],
                   check=True)


def patch_png(path: Path, width: int = 320, height: int = 180) -> Path:
    image = Image.new("RGB", (width, height))
    pen = ImageDraw.Draw(image)
    sx, sy = width / 320, height / 180
    for x0, y0, x1, y1, rgb in PATCHES.values():
        pen.rectangle([round(x0 * sx), round(y0 * sy), round(x1 * sx) - 1, round(y1 * sy) - 1],
                      fill=rgb)
    image.save(path)
    return path


def patch_video(path: Path, png: Path, *, filters: str, encode: tuple[str, ...],
                seconds: float = 2, audio: bool = False) -> Path:
    """The patch picture as a ``seconds`` long 30 fps video: ``filters`` then ``encode``."""
    inputs = ["-loop", "1", "-framerate", "30", "-i", str(png)]
    if audio:
        inputs += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds:g}"]
    ffmpeg(*inputs, "-t", f"{seconds:g}", "-vf", filters, *encode,
           *(("-c:a", "aac", "-shortest") if audio else ()), str(path))
    return path


def make_not_a_video(tmp_path: Path, kind: str) -> Path:
    """A still picture (png, jpeg, webp, bmp, tiff) or a song whose only picture is its
    cover (mp3 with cover: ID3 APIC; m4a with cover: covr; flac with cover: PICTURE)."""
    cover = tmp_path / "cover.jpg"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=300x300", "-frames:v", "1", str(cover))
    song = ("-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-i", str(cover),
            "-map", "0:a", "-map", "1:v", "-c:v", "copy", "-disposition:v:0", "attached_pic")
    stills = {"png": "png", "jpeg": "jpg", "webp": "webp", "bmp": "bmp", "tiff": "tiff"}
    if kind in stills:
        path = tmp_path / f"photo.{stills[kind]}"
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360", "-frames:v", "1", str(path))
    elif kind == "mp3 with cover":
        path = tmp_path / "song.mp3"
        ffmpeg(*song, "-c:a", "libmp3lame", "-id3v2_version", "3", str(path))
    elif kind == "m4a with cover":
        path = tmp_path / "song.m4a"
        ffmpeg(*song, "-c:a", "aac", str(path))
    else:
        path = tmp_path / "song.flac"
        ffmpeg(*song, "-c:a", "flac", str(path))
    return path


def _central(box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    return (int(x0 + (x1 - x0) * 0.3), int(y0 + (y1 - y0) * 0.3),
            int(x1 - (x1 - x0) * 0.3), int(y1 - (y1 - y0) * 0.3))


def _scaled(name: str, width: int, height: int) -> tuple[float, float, float, float]:
    x0, y0, x1, y1, _ = PATCHES[name]
    return x0 * width / 320, y0 * height / 180, x1 * width / 320, y1 * height / 180


def _plane_median(plane: av.video.plane.VideoPlane, box: tuple[int, int, int, int]) -> float:
    data, stride = bytes(plane), plane.line_size
    x0, y0, x1, y1 = box
    return statistics.median(data[y * stride + x] for y in range(y0, y1) for x in range(x0, x1))


def bt709_limited_to_rgb(y: float, cb: float, cr: float) -> RGB:
    kr, kb = 0.2126, 0.0722
    luma, pb, pr = (y - 16) / 219, (cb - 128) / 224, (cr - 128) / 224
    red = luma + 2 * (1 - kr) * pr
    blue = luma + 2 * (1 - kb) * pb
    green = (luma - kr * red - kb * blue) / (1 - kr - kb)
    r, g, b = (round(min(max(v, 0.0), 1.0) * 255) for v in (red, green, blue))
    return r, g, b


def frame_at(path: Path, t_s: float) -> av.VideoFrame:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= t_s:
                return frame
    raise AssertionError(f"{path.name} has no frame at {t_s} s")


def clip_patches(path: Path, *, t_s: float) -> dict[str, RGB]:
    """Each patch of the 1280x720 yuv420p frame at ``t_s``, decoded as BT.709 limited range."""
    frame = frame_at(path, t_s)
    assert frame.format.name == "yuv420p", frame.format.name
    result = {}
    for name in PATCHES:
        luma = _central(_scaled(name, frame.width, frame.height))
        chroma = (luma[0] // 2, luma[1] // 2, luma[2] // 2, luma[3] // 2)
        result[name] = bt709_limited_to_rgb(_plane_median(frame.planes[0], luma),
                                            _plane_median(frame.planes[1], chroma),
                                            _plane_median(frame.planes[2], chroma))
    return result


def image_patches(path: Path) -> dict[str, RGB]:
    """Each patch of an image as a standard decoder (Pillow's libjpeg) shows it."""
    with Image.open(path) as image:
        rgb = image.convert("RGB")
    result = {}
    for name in PATCHES:
        x0, y0, x1, y1 = _central(_scaled(name, rgb.width, rgb.height))
        pixels = [rgb.getpixel((x, y)) for y in range(y0, y1) for x in range(x0, x1)]
        result[name] = tuple(round(statistics.median(p[c] for p in pixels))  # type: ignore[index]
                             for c in range(3))  # type: ignore[assignment]
    return result


def worst_error(measured: dict[str, RGB], reference: dict[str, RGB]) -> tuple[int, str]:
    """The largest channel difference of any patch, and that patch."""
    return max((max(abs(a - b) for a, b in zip(measured[name], reference[name], strict=True)), name)
               for name in reference)


def idet_interlaced_share(path: Path, *, start_s: float, end_s: float) -> float:
    """idet's multi-frame verdict on ``[start_s, end_s)``: TFF+BFF frames over all frames."""
    done = subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(path), "-vf",
         f"trim=start={start_s:g}:end={end_s:g},idet", "-an", "-f", "null", "-"],
        capture_output=True, text=True, check=True)
    # The last report: ffmpeg may configure (and so report) the graph more than once.
    line = [line for line in done.stderr.splitlines() if "Multi frame detection" in line][-1]
    counts = dict(zip(line.split()[-8::2], map(int, line.split()[-7::2]), strict=True))
    total = sum(counts.values())
    assert total > 0, line
    return (counts["TFF:"] + counts["BFF:"]) / total
