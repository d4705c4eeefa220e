"""An event sink that appends JSON lines to ANB_TEST_EVENTS_FILE, readable across processes."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from anb_pipeline import PipelineEvent, Settings


class JsonLinesSink:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()

    def emit(self, event: PipelineEvent) -> None:
        line = json.dumps(event.asdict()) + "\n"
        with self.lock, open(self.path, "a") as out:
            out.write(line)


def make_sink(settings: Settings) -> JsonLinesSink:
    return JsonLinesSink(Path(os.environ["ANB_TEST_EVENTS_FILE"]))


def read_events(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
