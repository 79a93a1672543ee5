"""The error every job raises for a problem the user can fix (torch-free, so the CLI can
report bad arguments before any heavy import)."""


class JobError(Exception):
    """A problem the user can fix; the CLI prints the one-line message and exits with code 2."""
