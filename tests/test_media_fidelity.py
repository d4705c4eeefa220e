"""Every camera's video comes out right: colour, HDR, interlace, cover art, stills, posters,
edit lists, durations (issue 12).

Inputs are shaped like real phone, webcam, action-camera, camcorder and music files and made
here with the bundled ffmpeg; results are measured by numbers (patch colours, idet counts,
markers), on the real pipeline (stub broker, in-process worker, real ffmpeg).
"""

from __future__ import annotations

import dataclasses
import statistics
import struct
import subprocess
import sys
from pathlib import Path

import av
import pytest
from PIL import Image, ImageChops, ImageStat

from anb_pipeline import MediaError, MediaUndecodable, NotAVideo, PipelineEvent, Settings
from anb_pipeline.dlq import DeadLetterQueue
from anb_pipeline.media import ffmpeg_exe, probe, run_ffmpeg
from anb_pipeline.media.invariants import clip_problems
from anb_pipeline.media.source import source_filters
from helpers import (
    EventLog,
    build_pipeline,
    quick_settings,
    run_until_final,
    sqs_settings,
    start_video,
)
from media_samples import (
    EXPECTED,
    MARKERS,
    clip_patches,
    ffmpeg,
    frame_at,
    idet_interlaced_share,
    image_patches,
    make_not_a_video,
    patch_png,
    patch_video,
    worst_error,
)

pytestmark = [pytest.mark.media, pytest.mark.slow]

#: Decoded as BT.709 limited range, an SDR clip's patches are this close to their RGB.
SDR_LEVELS = 3
#: A poster JPEG read by Pillow, against the patches' RGB (JFIF: BT.601, full range).
POSTER_LEVELS = 6
#: An HDR clip against ffmpeg's own zscale conversion of the same input (measured: 2).
HDR_LEVELS = 4
#: The content sits between the 2 s intro and outro cards; read it at its middle.
CONTENT_T_S = 3.0
#: White and grey of an HDR clip stay neutral: channels this close to each other (zscale's
#: own conversion of the PQ sample is 5 apart).
NEUTRAL_LEVELS = 6
TAGS_709 = ("-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709")


@dataclasses.dataclass
class Run:
    final: PipelineEvent
    clip: Path
    poster: Path
    settings: Settings


def process(tmp_path: Path, source: Path, *, fuse: bool = True, name: str = "v") -> Run:
    """The default pipeline on ``source``; the clip and the poster when it is published."""
    log = EventLog()
    settings = quick_settings(broker_url="stub://", fuse_steps=fuse,
                              storage_url=f"file://{tmp_path / f'store-{name}'}")
    pipeline = build_pipeline(settings, log)
    start_video(pipeline, source, name)
    final = run_until_final(pipeline, log, [name])[name]
    clip, poster = tmp_path / f"{name}-clip.mp4", tmp_path / f"{name}-poster.jpg"
    if final.kind == "pipeline_done":
        pipeline.storage.get_file(f"processed/{name}.mp4", clip)
        pipeline.storage.get_file(f"processed/{name}.jpg", poster)
    return Run(final, clip, poster, settings)


@pytest.fixture(scope="module")
def png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return patch_png(tmp_path_factory.mktemp("patches") / "patches.png")


# Each SDR class: the filters that make the source's pixels from the RGB picture, and its
# encode. Range and matrix are what the camera writes, and are tagged as it tags them.
SDR_SOURCES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "webcam MJPEG AVI, full range BT.601 (yuvj420p)": (
        "avi", "scale=out_color_matrix=bt601:out_range=pc,format=yuvj420p",
        ("-c:v", "mjpeg", "-q:v", "2")),
    "action camera H.264 MP4, full range BT.709, timecode track": (
        "mp4", "scale=out_color_matrix=bt709:out_range=pc,format=yuv420p,"
               "setparams=range=pc:colorspace=bt709:color_primaries=bt709:color_trc=bt709",
        ("-c:v", "libx264", "-crf", "12", "-color_range", "pc", *TAGS_709,
         "-timecode", "01:00:00:00")),
    "SD H.264 MOV, BT.601 (smpte170m) limited, tagged": (
        "mov", "scale=640:360:out_color_matrix=bt601:out_range=tv,format=yuv420p,"
               "setparams=range=tv:colorspace=smpte170m:color_primaries=smpte170m"
               ":color_trc=smpte170m",
        ("-c:v", "libx264", "-crf", "12", "-colorspace", "smpte170m",
         "-color_primaries", "smpte170m", "-color_trc", "smpte170m", "-color_range", "tv")),
    "SD H.264 MP4, BT.601, untagged": (
        "mp4", "scale=640:360:out_color_matrix=bt601:out_range=tv,format=yuv420p",
        ("-c:v", "libx264", "-crf", "12")),
    "HD H.264 MP4, BT.709, untagged": (
        "mp4", "scale=1280:720:out_color_matrix=bt709:out_range=tv,format=yuv420p",
        ("-c:v", "libx264", "-crf", "12")),
    "phone HEVC 10-bit MOV, BT.709 SDR": (
        "mov", "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p10le,"
               "setparams=range=tv:colorspace=bt709:color_primaries=bt709:color_trc=bt709",
        ("-c:v", "libx265", "-crf", "12", "-tag:v", "hvc1", "-x265-params", "log-level=error",
         *TAGS_709)),
    "screen recording PNG-in-MOV, RGB": (
        "mov", "format=rgb24", ("-c:v", "png")),
}


@pytest.mark.parametrize("case", sorted(SDR_SOURCES))
def test_sdr_sources_of_any_range_and_matrix_come_out_limited_bt709(
    tmp_path: Path, png: Path, case: str
) -> None:
    extension, filters, encode = SDR_SOURCES[case]
    source = patch_video(tmp_path / f"in.{extension}", png, filters=filters, encode=encode)

    run = process(tmp_path, source)

    assert run.final.kind == "pipeline_done", run.final.error
    # clip_problems includes yuv420p and the range/matrix/primaries/transfer tags.
    assert clip_problems(run.clip, settings=run.settings, source_duration_s=2) == []
    clip = clip_patches(run.clip, t_s=CONTENT_T_S)
    poster = image_patches(run.poster)
    print(f"\n{case}: clip worst {worst_error(clip, EXPECTED)}, "
          f"poster worst {worst_error(poster, EXPECTED)}")
    assert worst_error(clip, EXPECTED)[0] <= SDR_LEVELS, clip
    assert worst_error(poster, EXPECTED)[0] <= POSTER_LEVELS, poster
    # The intro card's black is limited-range black.
    intro = frame_at(run.clip, 0.5)
    assert statistics.median(bytes(intro.planes[0])[:intro.planes[0].line_size * 16]) == 16


@pytest.fixture(scope="module")
def hdr_sources(tmp_path_factory: pytest.TempPathFactory, png: Path) -> dict[str, Path]:
    """HDR as phones record it: the SDR picture encoded into HLG or PQ, BT.2020, 10-bit."""
    folder = tmp_path_factory.mktemp("hdr")
    to = "zscale=rin=full:tin=bt709:pin=bt709:r=limited:m=bt2020nc:p=bt2020:t={},format={}"
    tags = ("-color_primaries", "bt2020", "-colorspace", "bt2020nc", "-color_range", "tv")
    x265 = "log-level=error:colorprim=bt2020:colormatrix=bt2020nc:range=limited:transfer={}"
    hdr10 = ":hdr10=1:master-display=G(13250,34500)B(7500,3000)R(34000,16000)" \
            "WP(15635,16450)L(10000000,50):max-cll=1000,400"
    return {
        "iPhone HLG HEVC Main10 MOV with AAC": patch_video(
            folder / "hlg.mov", png, audio=True,
            filters=to.format("arib-std-b67", "yuv420p10le"),
            encode=("-c:v", "libx265", "-tag:v", "hvc1", "-x265-params",
                    x265.format("arib-std-b67"), *tags, "-color_trc", "arib-std-b67")),
        "Android HDR10 PQ HEVC Main10 MP4": patch_video(
            folder / "pq.mp4", png,
            filters=to.format("smpte2084", "yuv420p10le"),
            encode=("-c:v", "libx265", "-x265-params", x265.format("smpte2084") + hdr10,
                    *tags, "-color_trc", "smpte2084")),
        "PQ VP9 Profile 2 WebM": patch_video(
            folder / "pq.webm", png,
            filters=to.format("smpte2084", "yuv420p10le"),
            encode=("-c:v", "libvpx-vp9", "-profile:v", "2", "-crf", "20", "-b:v", "0",
                    "-deadline", "realtime", "-cpu-used", "8", *tags,
                    "-color_trc", "smpte2084")),
    }


@pytest.mark.parametrize("case", ["iPhone HLG HEVC Main10 MOV with AAC",
                                  "Android HDR10 PQ HEVC Main10 MP4", "PQ VP9 Profile 2 WebM"])
def test_hdr_comes_out_as_sdr_bt709_like_zscales_conversion(
    tmp_path: Path, hdr_sources: dict[str, Path], case: str
) -> None:
    source = hdr_sources[case]
    assert probe(source).colour.hdr
    reference = tmp_path / "zscale.mp4"
    ffmpeg("-i", str(source), "-an", "-vf",
           "zscale=t=bt709:p=bt709:m=bt709:r=tv,format=yuv420p,scale=1280:720",
           "-c:v", "libx264", "-crf", "10", str(reference))

    run = process(tmp_path, source)

    assert run.final.kind == "pipeline_done", run.final.error
    assert clip_problems(run.clip, settings=run.settings, source_duration_s=2) == []
    clip = clip_patches(run.clip, t_s=CONTENT_T_S)
    expected = clip_patches(reference, t_s=1.0)
    poster = image_patches(run.poster)
    print(f"\n{case}: clip {clip}\n  worst against zscale {worst_error(clip, expected)}, "
          f"poster worst {worst_error(poster, expected)}")
    assert worst_error(clip, expected)[0] <= HDR_LEVELS, (clip, expected)
    for neutral, floor in (("white", 225), ("gray", 120)):
        red, green, blue = clip[neutral]
        assert max(red, green, blue) - min(red, green, blue) <= NEUTRAL_LEVELS, clip[neutral]
        assert min(red, green, blue) >= floor, clip[neutral]
    assert worst_error(poster, expected)[0] <= POSTER_LEVELS


def interlaced(path: Path, *, order: str, encode: tuple[str, ...]) -> Path:
    """60 fields/s of a moving pattern woven into 30 frames/s, flagged with its field order."""
    weave = "interleave_top" if order == "tff" else "interleave_bottom"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=60:duration=2",
           "-vf", f"scale=out_color_matrix=bt709:out_range=tv,format=yuv420p,"
                  f"tinterlace=mode={weave},setfield={order},"
                  "setparams=range=tv:colorspace=bt709:color_primaries=bt709:color_trc=bt709",
           *encode, str(path))
    return path


INTERLACED = {
    "AVCHD-like H.264 PAFF MP4, top field first": (
        "tff", "mp4", ("-c:v", "libx264", "-flags", "+ilme+ildct", "-x264-params", "tff=1")),
    "broadcast MPEG-2 TS, bottom field first": (
        "bff", "ts", ("-c:v", "mpeg2video", "-q:v", "2", "-flags", "+ilme+ildct")),
}


@pytest.mark.parametrize("case", sorted(INTERLACED))
def test_interlaced_sources_are_deinterlaced(tmp_path: Path, case: str) -> None:
    order, extension, encode = INTERLACED[case]
    source = interlaced(tmp_path / f"in.{extension}", order=order, encode=encode)
    assert probe(source).field_order == order
    assert idet_interlaced_share(source, start_s=0, end_s=2) > 0.2, "the input is not combed"

    run = process(tmp_path, source)

    assert run.final.kind == "pipeline_done", run.final.error
    assert clip_problems(run.clip, settings=run.settings, source_duration_s=2) == []
    share = idet_interlaced_share(run.clip, start_s=2, end_s=4)
    print(f"\n{case}: idet on the clip's content finds {share:.1%} interlaced frames")
    assert share <= 0.02


@pytest.mark.parametrize("case", ["full range", "HLG", "interlaced"])
def test_stepwise_content_equals_fused_content(
    tmp_path: Path, png: Path, hdr_sources: dict[str, Path], case: str
) -> None:
    """Done-when 8 beyond edit lists: every step on its own pass shows the same picture."""
    if case == "full range":
        extension, filters, encode = SDR_SOURCES["webcam MJPEG AVI, full range BT.601 (yuvj420p)"]
        source = patch_video(tmp_path / f"in.{extension}", png, filters=filters, encode=encode)
    elif case == "HLG":
        source = hdr_sources["iPhone HLG HEVC Main10 MOV with AAC"]
    else:
        source = interlaced(tmp_path / "in.mp4", order="tff",
                            encode=INTERLACED["AVCHD-like H.264 PAFF MP4, top field first"][2])

    fused = content_frames(process(tmp_path, source, name="f").clip, bumper_s=2)
    stepwise = content_frames(process(tmp_path, source, fuse=False, name="s").clip, bumper_s=2)

    assert len(fused) == len(stepwise) > 0
    worst = max(difference(a, b) for a, b in zip(fused, stepwise, strict=True))
    print(f"\n{case}: {len(fused)} content frames, worst mean luma difference {worst:.2f}")
    assert worst < 4


def test_progressive_and_ordinary_sdr_input_gets_no_extra_filter(tmp_path: Path) -> None:
    """Done-when 9: the probe adds conversion or deinterlacing only where needed."""
    ordinary = tmp_path / "ordinary.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=1280x720:r=30:d=1", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", *TAGS_709, str(ordinary))
    assert len(source_filters(probe(ordinary))) == 1  # only the BT.709 tags (setparams)
    hd_untagged = tmp_path / "untagged.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=1280x720:r=30:d=1", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", str(hd_untagged))
    assert [f.split("=")[0] for f in source_filters(probe(hd_untagged))] == ["setparams"]


@pytest.mark.parametrize("fuse", [True, False], ids=["fused", "stepwise"])
def test_an_mp4_whose_first_stream_is_cover_art_is_processed_from_its_real_video(
    tmp_path: Path, png: Path, fuse: bool
) -> None:
    cover = tmp_path / "cover.jpg"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=300x300", "-frames:v", "1", str(cover))
    video = patch_video(tmp_path / "video.mp4", png, filters="format=yuv420p",
                        encode=("-c:v", "libx264", "-crf", "12", *TAGS_709))
    with_cover = tmp_path / "with-cover.mp4"
    ffmpeg("-i", str(video), "-i", str(cover), "-map", "0:v", "-map", "1:v", "-c", "copy",
           "-disposition:v:1", "attached_pic", str(with_cover))
    source = udta_first(with_cover, tmp_path / "cover-first.mp4")

    assert [s.disposition for s in av.open(str(source)).streams.video][0] & 1024
    assert probe(source).stream_index == 1
    run = process(tmp_path, source, fuse=fuse)

    assert run.final.kind == "pipeline_done", run.final.error
    assert worst_error(clip_patches(run.clip, t_s=CONTENT_T_S), EXPECTED)[0] <= SDR_LEVELS


def udta_first(source: Path, target: Path) -> Path:
    """``source`` with its ``moov/udta`` (where the ``covr`` cover lives) moved before the
    tracks, as some taggers write it: ffmpeg then lists the cover as stream 0. Only boxes
    inside moov move, so every chunk offset stays true."""
    data = bytearray(source.read_bytes())
    start = data.index(b"moov") - 4
    size = struct.unpack(">I", data[start:start + 4])[0]
    children: dict[bytes, list[bytes]] = {}
    position = start + 8
    while position < start + size:
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        children.setdefault(kind, []).append(bytes(data[position:position + length]))
        position += length
    order = [b"mvhd", b"udta", *(k for k in children if k not in (b"mvhd", b"udta"))]
    data[start + 8:start + size] = b"".join(box for kind in order for box in children[kind])
    target.write_bytes(data)
    return target


NOT_VIDEOS = ["png", "jpeg", "webp", "bmp", "tiff", "mp3 with cover", "m4a with cover",
              "flac with cover"]


@pytest.mark.parametrize("kind", NOT_VIDEOS)
def test_stills_and_cover_art_only_audio_are_not_videos(tmp_path: Path, kind: str) -> None:
    source = make_not_a_video(tmp_path, kind)
    with pytest.raises(NotAVideo, match="single still picture|only picture is cover art"):
        probe(source)

    done = subprocess.run([sys.executable, "-m", "anb_pipeline.cli", "process", str(source),
                           "-o", str(tmp_path / "out.mp4")],
                          capture_output=True, text=True, timeout=120)

    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr  # no traceback, no progress bar: nothing ran
    assert lines[0].startswith(f"anb: error: {source.name} is not a video: ")
    assert len(lines[0]) <= 200 and "@ 0x" not in lines[0]
    assert not (tmp_path / "out.mp4").exists()


def test_an_animated_gif_is_still_a_video(tmp_path: Path) -> None:
    gif = tmp_path / "loop.gif"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=10:duration=2", str(gif))
    assert probe(gif).duration_s == pytest.approx(2.0, abs=0.15)


def truncated_mp4(tmp_path: Path) -> Path:
    """A phone recording cut off before its first frame: header present, frames missing."""
    whole = tmp_path / "whole.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:r=30:d=2", "-c:v", "libx264",
           "-movflags", "+faststart", str(whole))
    cut = tmp_path / "cut.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[: data.index(b"mdat") + 64])
    return cut


@pytest.mark.parametrize("fuse", [True, False], ids=["fused", "stepwise"])
@pytest.mark.parametrize("kind", ["junk bytes", "truncated before the first frame"])
def test_a_file_that_cannot_decode_is_dead_lettered_at_once_with_one_sentence(
    tmp_path: Path, kind: str, fuse: bool
) -> None:
    if kind == "junk bytes":
        source = tmp_path / "junk.mp4"
        source.write_bytes(bytes(range(256)) * 64)
    else:
        source = truncated_mp4(tmp_path)

    run = process(tmp_path, source, fuse=fuse)

    assert run.final.kind == "pipeline_dead_lettered"
    assert run.final.attempt == 1, "a deterministic media failure is not retried"
    assert run.final.step.split("+")[0] == "trim"
    error = run.final.error or ""
    assert error.startswith("NotAVideo: ") and "\n" not in error and len(error) <= 200, error
    assert "@ 0x" not in error and "ffmpeg" not in error


def test_on_sqs_an_undecodable_file_is_in_the_dlq_after_one_attempt_with_its_reason(
    aws_endpoint: str, namespace: str, tmp_path: Path
) -> None:
    log = EventLog()
    pipeline = build_pipeline(sqs_settings(endpoint=aws_endpoint, namespace=namespace), log)
    source = make_not_a_video(tmp_path, "mp3 with cover")
    start_video(pipeline, source, "song")

    final = run_until_final(pipeline, log, ["song"])["song"]

    assert final.kind == "pipeline_dead_lettered"
    assert final.attempt == 1
    assert {event.attempt for event in log.of("song")} == {1}, "no second attempt ran"
    [letter] = DeadLetterQueue(pipeline.broker).letters()
    assert (letter.video_id, letter.attempts) == ("song", 1)
    assert letter.error.endswith("NotAVideo: its only picture is cover art (an attached picture)")


def test_ffmpeg_reporting_invalid_input_data_is_a_permanent_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 500)
    with pytest.raises(MediaUndecodable, match="^the file's data is damaged"):
        run_ffmpeg(["-i", str(junk), "-f", "null", "-"], timeout_s=60)


def test_a_timeout_is_transient_and_keeps_its_retries(tmp_path: Path) -> None:
    log = EventLog()
    settings = quick_settings(broker_url="stub://", ffmpeg_timeout_s=0.05,
                              storage_url=f"file://{tmp_path / 'store'}")
    pipeline = build_pipeline(settings, log)
    source = tmp_path / "in.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=1280x720:r=30:d=2", "-c:v", "libx264", str(source))
    start_video(pipeline, source, "slow")

    final = run_until_final(pipeline, log, ["slow"])["slow"]

    assert final.kind == "pipeline_dead_lettered"
    assert (final.error or "").startswith("MediaTimeout")
    assert final.attempt == settings.max_retries + 1
    assert not issubclass(type(MediaError("x")), NotAVideo)


def content_frames(clip: Path, *, bumper_s: float, size: tuple[int, int] = (160, 90)
                   ) -> list[Image.Image]:
    """The frames between the cards, small and grey, for comparing runs."""
    frames = []
    with av.open(str(clip)) as container:
        total = float(container.duration or 0) / av.time_base
        for frame in container.decode(video=0):
            if frame.time is not None and bumper_s - 1e-3 <= frame.time < total - bumper_s - 1e-3:
                frames.append(frame.to_image().convert("L").resize(size))
    return frames


def difference(first: Image.Image, second: Image.Image) -> float:
    return float(ImageStat.Stat(ImageChops.difference(first, second)).mean[0])


def test_an_mp4_edit_list_is_honoured_fused_and_stepwise(tmp_path: Path) -> None:
    source = tmp_path / "uncut.mp4"
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=320x180:rate=30:duration=4,{MARKERS}",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "300", "-keyint_min", "300",
           "-sc_threshold", "0", str(source))
    cut = tmp_path / "cut.mp4"
    ffmpeg("-ss", "1.5", "-i", str(source), "-t", "2.5", "-c", "copy", str(cut))
    assert probe(cut).hidden_lead_in

    fused = content_frames(process(tmp_path, cut, name="f").clip, bumper_s=2)
    stepwise = content_frames(process(tmp_path, cut, fuse=False, name="s").clip, bumper_s=2)

    assert len(fused) == len(stepwise) == 75
    assert max(difference(a, b) for a, b in zip(fused, stepwise, strict=True)) < 4
    with av.open(str(source)) as container:
        originals = [f.to_image().convert("L").resize((160, 90))
                     for f in container.decode(video=0)][:60]
    nearest = min(range(len(originals)), key=lambda n: difference(originals[n], stepwise[0]))
    assert nearest == 45, "the stepwise clip must start at the edit list's 1.5 s"


def rotated_phone_clip(tmp_path: Path, degrees: int) -> Path:
    """An upright 180x320 portrait with markers, stored turned and carrying a display matrix
    that turns it back (as phones record); -display_rotation on a stream copy writes it."""
    turn = {90: "transpose=clock", 180: "hflip,vflip", 270: "transpose=cclock"}[degrees]
    stored = tmp_path / "stored.mp4"
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=180x320:rate=30:duration=2,{MARKERS},{turn}",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", str(stored))
    phone = tmp_path / "phone.mov"
    ffmpeg("-display_rotation", str(degrees), "-i", str(stored), "-c", "copy", str(phone))
    return phone


@pytest.mark.parametrize("fuse", [True, False], ids=["fused", "stepwise"])
@pytest.mark.parametrize("degrees", [90, 270])
def test_a_display_matrix_rotation_comes_out_upright_and_pillarboxed(
    tmp_path: Path, degrees: int, fuse: bool
) -> None:
    source = rotated_phone_clip(tmp_path, degrees)
    assert probe(source).rotation in (degrees, degrees - 360, 360 - degrees, -degrees)

    run = process(tmp_path, source, fuse=fuse)

    assert run.final.kind == "pipeline_done", run.final.error
    assert run.final.output["content_box"] == [438, 0, 404, 720]
    picture = frame_at(run.clip, CONTENT_T_S).to_image()
    top_left = picture.getpixel((438 + 50, 90))
    top_right = picture.getpixel((438 + 404 - 50, 90))
    assert top_left[0] > 180 and top_left[1] < 80, top_left  # red
    assert top_right[1] > 180 and top_right[0] < 80, top_right  # lime


def test_a_webm_without_a_duration_in_its_header_is_probed_from_its_packets(
    tmp_path: Path
) -> None:
    """MediaRecorder writes WebM live: no Duration element, as a muxer writing to a pipe."""
    webm = tmp_path / "recorded.webm"
    with open(webm, "wb") as out:
        subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                        "testsrc2=s=320x180:r=30:d=3", "-c:v", "libvpx", "-deadline", "realtime",
                        "-f", "webm", "pipe:1"], stdout=out, check=True)
    assert probe(webm).duration_s == pytest.approx(3.0, abs=0.1)
