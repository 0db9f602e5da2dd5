"""The one exception type the CLI turns into a one-line message."""

from __future__ import annotations


class CliError(Exception):
    """A problem with the user's command, input files or node, explained in the message."""
