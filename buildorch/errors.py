"""The one error type a user can fix, and the exit codes."""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


class BuildorchError(Exception):
    """A problem the user can fix: printed as one line (what, where, what to do), exit 1."""


class ConfigError(BuildorchError):
    """services.toml is wrong. Carries every problem found, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))
