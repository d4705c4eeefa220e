"""The module the stock Dramatiq worker loads: ``dramatiq anb_pipeline.worker:broker``.

Importing it reads the settings, builds the broker with the framework's middleware and
declares one actor per configured step. ``anb worker`` is a thin wrapper that runs it.
"""

from __future__ import annotations

import dramatiq

from .logs import configure_logging
from .pipeline import MediaPipeline
from .settings import Settings

settings = Settings.from_env()
configure_logging(settings)
pipeline = MediaPipeline(settings)
broker = pipeline.broker
dramatiq.set_broker(broker)
