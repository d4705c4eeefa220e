"""The storage layout and the message conventions each have one home that the rest imports."""

from __future__ import annotations

import re
from pathlib import Path

from anb_pipeline import Job, layout

SRC = Path(__file__).resolve().parents[1] / "src"


def test_the_keys_of_a_video() -> None:
    job = Job.start(video_id="v1", source_key=layout.original_key(video_id="v1", extension="mkv"))
    assert (job.source_key, layout.originals_prefix("v1")) == ("originals/v1.mkv", "originals/v1.")
    assert (job.work_prefix, job.artifact_key("trim", "mkv")) == ("work/v1/", "work/v1/trim.mkv")
    assert (layout.clip_key("v1"), layout.poster_key("v1")) == ("processed/v1.mp4", "processed/v1.jpg")
    assert job.output_key("mp4") == layout.clip_key("v1")


def _sources_with(pattern: str) -> list[str]:
    return sorted(str(path.relative_to(SRC)) for path in SRC.rglob("*.py")
                  if re.search(pattern, path.read_text()))


def test_key_prefixes_and_actor_names_are_written_in_one_module_each() -> None:
    # "processed" alone is also a status; with a slash, it is a key.
    assert _sources_with(r"""["'](originals|work|processed)/|["']originals["']""") \
        == ["anb_pipeline/layout.py"]
    assert _sources_with(r"""["']anb_step_["'{]""") == ["anb_pipeline/messages.py"]
    assert _sources_with(r"MaxNumberOfMessages=\d") == []
