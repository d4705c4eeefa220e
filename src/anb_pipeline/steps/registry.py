"""Finds step plugins under the ``anb_pipeline.steps`` entry-point group."""

from __future__ import annotations

import logging
from importlib.metadata import EntryPoints, entry_points

from ..errors import StepNotFound
from .base import Step

ENTRY_POINT_GROUP = "anb_pipeline.steps"


class StepRegistry:
    """Steps by name. Explicit registration wins over an entry point of the same name."""

    def __init__(self) -> None:
        self.logger = logging.getLogger(f"{__name__}.{type(self).__name__}")
        self._steps: dict[str, Step] = {}
        #: The group's entry points, read once: each scan of the installed packages costs
        #: about 15 ms, and a pipeline looks up every step.
        self._entry_points: EntryPoints | None = None

    def _group(self) -> EntryPoints:
        if self._entry_points is None:
            self._entry_points = entry_points(group=ENTRY_POINT_GROUP)
        return self._entry_points

    def register(self, step: Step) -> Step:
        """Add ``step`` under its name (replacing a step of that name); returns it."""
        self._steps[step.name] = step
        return step

    def get(self, name: str) -> Step:
        """The step named ``name``, loading its entry point on first use.

        Raises: ``StepNotFound`` when neither registered nor an entry point.
        """
        if name not in self._steps:
            self._load_entry_point(name)
        return self._steps[name]

    def resolve(self, names: tuple[str, ...]) -> list[Step]:
        """The steps named in ``names``, in that order. Raises: ``StepNotFound``."""
        return [self.get(name) for name in names]

    def available(self) -> list[str]:
        """Every step name that ``get`` can resolve, sorted."""
        names = {ep.name for ep in self._group()}
        return sorted(names | set(self._steps))

    def _load_entry_point(self, name: str) -> None:
        matches = self._group().select(name=name)
        if not matches:
            raise StepNotFound(
                f"no step named {name!r}; available: {', '.join(self.available()) or 'none'}"
            )
        entry_point = next(iter(matches))
        loaded = entry_point.load()
        step = loaded() if isinstance(loaded, type) else loaded
        self.logger.debug("Loaded step %r from %s.", name, entry_point.value)
        self._steps[name] = step
