"""Filter stages: a step's part of an ffmpeg filter graph, and how stages compose.

A step that can describe its work as a stage runs alone (one graph, an intermediate
encode) or fused with its neighbours (one graph, one decode, one encode for all of them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from ..media import VideoInfo
from ..media.source import source_filters, source_label

POSTER_LABEL = "[poster]"


@dataclasses.dataclass(frozen=True)
class Stage:
    """A fragment of ``-filter_complex``.

    ``graph`` may use ``{src}`` (the label it reads), ``{out}`` (the label it writes),
    ``{x0}``, ``{x1}``... (its extra inputs), ``{id}`` (a prefix for private labels) and
    ``{poster}`` (frames for the poster image; the last one written wins).
    """

    graph: str
    #: ffmpeg arguments of each extra input, e.g. ``("-loop", "1", "-i", "logo.png")``.
    inputs: tuple[tuple[str, ...], ...] = ()
    #: Options placed before the main source's ``-i``, e.g. ``("-t", "30")``.
    source_options: tuple[str, ...] = ()
    #: Facts for later steps (frame rate, content box...).
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: True for the stage that produces the published encode (the last ffmpeg stage).
    final: bool = False
    #: True when ``graph`` writes ``{poster}``; at most one stage of a pass may.
    poster: bool = False


@dataclasses.dataclass(frozen=True)
class Render:
    """The ffmpeg arguments of one pass over composed stages."""

    args: list[str]
    final: bool
    meta: dict[str, Any]
    #: The label of the poster frames, when a stage writes them.
    poster_label: str | None = None


def compose(stages: Sequence[Stage], *, source: str, info: VideoInfo) -> Render:
    """One pass: ``source`` (probed as ``info``) through its source filters, then ``stages``."""
    inputs: list[str] = []
    for stage in stages:
        inputs += stage.source_options
    inputs += ["-i", source]
    fragments = [f"{source_label(info)}{','.join(source_filters(info))}[src]"]
    label, next_input = "[src]", 1
    for index, stage in enumerate(stages):
        extra = {f"x{n}": f"[{next_input + n}:v]" for n in range(len(stage.inputs))}
        for input_args in stage.inputs:
            inputs += input_args
        next_input += len(stage.inputs)
        out = f"[s{index}]"
        fragments.append(stage.graph.format(src=label, out=out, id=f"s{index}",
                                            poster=POSTER_LABEL, **extra))
        label = out
    meta: dict[str, Any] = {}
    for stage in stages:
        meta.update(stage.meta)
    args = [*inputs, "-filter_complex", ";".join(fragments), "-map", label]
    poster_label = POSTER_LABEL if any(stage.poster for stage in stages) else None
    return Render(args=args, final=stages[-1].final, meta=meta, poster_label=poster_label)
