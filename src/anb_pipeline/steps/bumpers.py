"""bumpers: the intro and outro cards around the content, and the final encode."""

from __future__ import annotations

from ..job import Job
from ..media.geometry import FRAME_HEIGHT, FRAME_WIDTH
from .base import StepContext

#: The logo's width on a card, in output pixels.
LOGO_WIDTH = 480


def cards_graph(*, content: str, logo: str, fps: int, seconds: float) -> str:
    """Intro + ``content`` + outro, concatenated; cards are built in the graph, not stored."""
    card = f"color=c=black:s={FRAME_WIDTH}x{FRAME_HEIGHT}:r={fps}:d={seconds:g},setsar=1"
    return (
        f"{logo}scale={LOGO_WIDTH}:-1,split[logo1][logo2];"
        f"{card}[bg1];{card}[bg2];"
        "[bg1][logo1]overlay=(W-w)/2:(H-h)/2:shortest=1[intro];"
        "[bg2][logo2]overlay=(W-w)/2:(H-h)/2:shortest=1[outro];"
        f"{content}setsar=1,fps={fps}[main];"
        "[intro][main][outro]concat=n=3:v=1:a=0,format=yuv420p[v]"
    )


class BumpersStep:
    name = "bumpers"

    def run(self, ctx: StepContext) -> Job:
        source = ctx.fetch_input(".mkv")
        fps = int(ctx.job.meta.get("fps", ctx.settings.max_fps))
        final = ctx.workdir / "final.mp4"
        graph = cards_graph(content="[0:v]", logo="[1:v]", fps=fps, seconds=ctx.settings.bumper_s)
        ctx.ffmpeg(["-i", str(source), "-loop", "1", "-i", str(ctx.settings.logo_path),
                    "-filter_complex", graph, "-map", "[v]", *ctx.final_encode(), str(final)])
        return ctx.job.advance(input_key=ctx.store_output(final, "mp4"))
