"""The colour path: what a source's colour tags mean and the filters that make it BT.709.

Every clip is 8-bit yuv420p, limited ("tv") range, BT.709 matrix, primaries and transfer
(SPEC section 3). A source gets only the conversions its probe says it needs, so the
ordinary case (BT.709 or untagged HD, limited range, SDR, progressive) adds no filter:

- deinterlace (``bwdif``) when the stream's field order or its frames say interlaced;
- HDR (PQ or HLG transfer) or BT.2020 primaries: zscale linearizes at a 100-nit SDR
  reference white, converts the gamut to BT.709 primaries, rolls PQ highlights off with
  ``tonemap=mobius`` (identity below the knee, so SDR-graded content keeps its levels), and
  re-encodes with the BT.709 transfer and matrix;
- any other matrix (BT.601, FCC, SMPTE 240M...), full range or RGB: zscale converts the
  matrix and range only. SDR BT.601 and BT.709 primaries differ too little to matter and
  players do not convert between them either.

Names are ffmpeg's for the code points of ITU-T H.273 (colour primaries, transfer
characteristics, matrix coefficients), the numbers PyAV reports.
"""

from __future__ import annotations

import dataclasses

#: H.273 / AVColorRange: 0 unspecified, 1 limited ("tv", MPEG), 2 full ("pc", JPEG).
RANGES = {1: "tv", 2: "pc"}
#: H.273 table 4, matrix coefficients.
MATRICES = {0: "gbr", 1: "bt709", 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m",
            8: "ycgco", 9: "bt2020nc", 10: "bt2020c"}
#: H.273 table 2, colour primaries.
PRIMARIES = {1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "film",
             9: "bt2020", 10: "smpte428", 11: "smpte431", 12: "smpte432"}
#: H.273 table 3, transfer characteristics.
TRANSFERS = {1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m", 8: "linear",
             13: "iec61966-2-1", 14: "bt2020-10", 15: "bt2020-12", 16: "smpte2084",
             18: "arib-std-b67"}

#: The transfers of HDR video: PQ (SMPTE ST 2084) and HLG (ARIB STD-B67, BT.2100).
HDR_TRANSFERS = frozenset({"smpte2084", "arib-std-b67"})
#: Sources below this height that carry no matrix tag are BT.601, as players assume.
HD_MIN_HEIGHT = 720
#: Linear light at or below this share of SDR white passes the PQ tone curve unchanged.
TONEMAP_KNEE = 0.9

#: The output's colour: limited range BT.709, as tags on the frames and in the stream.
BT709_FRAME_TAGS = "setparams=range=tv:colorspace=bt709:color_primaries=bt709:color_trc=bt709"
BT709_STREAM_TAGS = ("-color_range", "tv", "-colorspace", "bt709",
                     "-color_primaries", "bt709", "-color_trc", "bt709")
#: BT.709 limited range to what a JPEG (JFIF) holds: BT.601 matrix, full range.
POSTER_JPEG_FILTER = "zscale=min=709:rin=limited:m=470bg:r=full,format=yuvj420p"

#: scale options for an RGBA picture laid over the video (logo, watermark): BT.709 limited
#: range with alpha, so overlay does not convert it with its BT.601 default.
OVERLAY_FORMAT = "out_color_matrix=bt709:out_range=tv,format=yuva420p"

# zimg (zscale) spells some code points its own way.
_ZSCALE_MATRIX = {"bt709": "709", "bt470bg": "470bg", "smpte170m": "170m", "smpte240m": "240m",
                  "bt2020nc": "2020_ncl", "bt2020c": "2020_cl", "fcc": "fcc", "ycgco": "ycgco",
                  "gbr": "input"}
_ZSCALE_PRIMARIES = {"bt709": "709", "bt470m": "bt470m", "bt470bg": "bt470bg",
                     "smpte170m": "170m", "smpte240m": "240m", "bt2020": "2020",
                     "smpte431": "smpte431", "smpte432": "smpte432", "film": "film"}
_ZSCALE_TRANSFER = {"bt709": "709", "smpte170m": "601", "bt2020-10": "2020_10",
                    "bt2020-12": "2020_12", "smpte2084": "smpte2084",
                    "arib-std-b67": "arib-std-b67", "iec61966-2-1": "iec61966-2-1",
                    "linear": "linear", "gamma22": "709", "gamma28": "709", "smpte240m": "709"}


@dataclasses.dataclass(frozen=True)
class Colour:
    """A source's colour as tagged; None where the file says nothing."""

    range: str | None
    matrix: str | None
    primaries: str | None
    transfer: str | None
    #: True for RGB pixel formats (no matrix applies) and palettes.
    rgb: bool = False

    @classmethod
    def from_codes(cls, *, range_code: int, matrix_code: int, primaries_code: int,
                   transfer_code: int, pix_fmt: str | None) -> Colour:
        """From H.273 code points; ``yuvj*`` pixel formats are full range whatever the tag."""
        name = pix_fmt or ""
        colour_range = "pc" if name.startswith("yuvj") else RANGES.get(range_code)
        rgb = name.startswith(("rgb", "bgr", "gbr", "argb", "abgr", "pal", "gray", "ya"))
        return cls(range=colour_range, matrix=MATRICES.get(matrix_code),
                   primaries=PRIMARIES.get(primaries_code), transfer=TRANSFERS.get(transfer_code),
                   rgb=rgb)

    @property
    def hdr(self) -> bool:
        """Whether the transfer is an HDR one (PQ or HLG)."""
        return self.transfer in HDR_TRANSFERS

    @property
    def wide_gamut(self) -> bool:
        """Whether the primaries are BT.2020."""
        return self.primaries == "bt2020"


def assumed_matrix(colour: Colour, *, height: int) -> str:
    """The matrix the picture was made with: its tag, else BT.709 for HD, BT.601 below."""
    if colour.matrix is not None:
        return colour.matrix
    return "bt709" if height >= HD_MIN_HEIGHT else "smpte170m"


def conversion_filters(colour: Colour, *, width: int, height: int) -> list[str]:
    """The filters that turn this source into limited-range BT.709; [] when it already is.

    The result is 8-bit 4:2:0 where the size allows it, else 4:4:4 (zimg subsamples only
    even sizes); the resize step makes the size even.
    """
    matrix = assumed_matrix(colour, height=height)
    pixels = "format=yuv420p" if width % 2 == 0 and height % 2 == 0 else "format=yuv444p"
    source = [f"min={_ZSCALE_MATRIX.get(matrix, '709')}",
              f"rin={'full' if colour.range == 'pc' or colour.rgb else 'limited'}"]
    if colour.hdr or colour.wide_gamut:
        source += [f"pin={_ZSCALE_PRIMARIES.get(colour.primaries or 'bt2020', '2020')}",
                   f"tin={_ZSCALE_TRANSFER.get(colour.transfer or 'bt2020-10', '2020_10')}"]
        chain = [f"zscale={':'.join(source)}:t=linear:npl=100", "format=gbrpf32le",
                 "zscale=p=709"]
        if colour.transfer == "smpte2084":
            # PQ reaches 10000 nits; HLG at a 100-nit nominal peak never leaves SDR range.
            chain.append(f"tonemap=mobius:param={TONEMAP_KNEE:g}:desat=0")
        return [*chain, "zscale=t=709:m=709:r=limited", pixels]
    if colour.rgb:
        return ["zscale=m=709:r=limited", pixels]
    if matrix == "bt709" and colour.range != "pc":
        return []
    return [f"zscale={':'.join(source)}:m=709:r=limited", pixels]


def deinterlace_filter(field_order: str) -> str:
    """bwdif at one frame per frame (the frame rate is capped at 30 anyway), every frame."""
    return f"bwdif=mode=send_frame:parity={field_order}:deint=all"
