"""The one exception type the CLI turns into a one-line message."""

from __future__ import annotations


class CliError(Exception):
    """A problem with the user's command, input files or node, explained in the message."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        """The process exit code: 1, or 2 for a call refused before signing (as a usage error)."""
