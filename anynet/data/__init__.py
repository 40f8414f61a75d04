"""Data sets (host NumPy arrays) and loaders."""

from .synthetic import spiral

__all__ = ["spiral"]
