"""The statuses are defined once (anb_web.statuses); the page script and the API document
use the same words."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from anb_web.openapi import SCHEMAS
from anb_web.statuses import FINAL_VIDEO_STATUSES, StepStatus, VideoStatus, values

SCRIPT = (Path(__file__).resolve().parents[2] / "src" / "anb_web" / "static" / "my_videos.js").read_text()


def test_the_page_script_uses_the_enums_words() -> None:
    final = re.search(r"const FINAL = \[([^\]]*)\]", SCRIPT)
    words = re.search(r"const STEP_WORDS = \{([^}]*)\}", SCRIPT)
    assert final is not None and words is not None
    assert re.findall(r'"(\w+)"', final.group(1)) == [status.value for status in FINAL_VIDEO_STATUSES]
    assert re.findall(r"(\w+):", words.group(1)) == list(values(StepStatus))
    compared = set(re.findall(r'processing_status [!=]== "(\w+)"', SCRIPT))
    assert compared and compared <= set(values(VideoStatus))
    step_compared = set(re.findall(r'\.status [!=]== "(\w+)"', SCRIPT))
    assert step_compared and step_compared <= set(values(StepStatus))


def _resolved(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema``, or the component its ``$ref`` names."""
    ref = schema.get("$ref")
    return SCHEMAS[ref.removeprefix("#/components/schemas/")] if ref else schema


def test_the_api_document_lists_the_enums_words() -> None:
    video_status = _resolved(SCHEMAS["Video"]["properties"]["processing_status"])
    assert video_status["enum"] == list(values(VideoStatus))
    assert _resolved(SCHEMAS["Step"]["properties"]["status"])["enum"] == list(values(StepStatus))
