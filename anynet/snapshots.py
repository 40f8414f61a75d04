"""What a traced training step restores: an object's own Python state, taken and put back whole."""

from __future__ import annotations

from typing import Any

__all__ = ["Snapshotting"]


class Snapshotting:
    """Base of the objects a compiled step lends traced values to (layers, losses, optimizers):
    ``snapshot()`` takes their Python state (settings, caches kept for backward, counts) and
    ``restore(snapshot)`` puts it back, so that no traced value outlives the trace."""

    def snapshot(self) -> dict[str, Any]:
        """This object's own Python state, for ``restore``."""
        return dict(self.__dict__)

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Put back what ``snapshot`` returned."""
        self.__dict__.clear()
        self.__dict__.update(snapshot)
