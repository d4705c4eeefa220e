"""Where the content sits in the 1280x720 frame: fitted, never stretched."""

from __future__ import annotations

import dataclasses

FRAME_WIDTH = 1280
FRAME_HEIGHT = 720


@dataclasses.dataclass(frozen=True)
class ContentBox:
    """The picture area inside the frame, in output pixels; the rest is black bars."""

    x: int
    y: int
    width: int
    height: int

    def as_list(self) -> list[int]:
        """``[x, y, width, height]`` in pixels, as the job's meta carries it."""
        return [self.x, self.y, self.width, self.height]

    @classmethod
    def from_list(cls, values: list[int]) -> ContentBox:
        """The box from ``as_list``'s list. Raises: ``TypeError`` unless it has 4 values."""
        return cls(*values)


def _even(value: float) -> int:
    # yuv420p needs even dimensions; 2 px is the smallest picture that encodes.
    return max(2, int(round(value / 2)) * 2)


def fit_box(display_width: float, display_height: float) -> ContentBox:
    """Where a picture of ``display_width`` x ``display_height`` (display pixels, the sample
    aspect ratio applied) sits in the 1280x720 frame: scaled to fit without stretching,
    centred, even sizes (yuv420p), the rest letterbox or pillarbox (SPEC section 3)."""
    scale = min(FRAME_WIDTH / display_width, FRAME_HEIGHT / display_height)
    width = min(FRAME_WIDTH, _even(display_width * scale))
    height = min(FRAME_HEIGHT, _even(display_height * scale))
    return ContentBox((FRAME_WIDTH - width) // 2, (FRAME_HEIGHT - height) // 2, width, height)
