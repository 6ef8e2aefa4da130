"""The one exception type for problems a user can cause (bad input, files, options)."""


class DprobeError(Exception):
    """A user-facing error: the message names the problem; the CLI prints it as one line."""
