"""buildorch: know which images are stale and why, then build exactly those."""

__version__ = "0.1.0"
