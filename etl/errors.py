"""Errors shown to a user as one line (no traceback)."""


class UserError(Exception):
    """A problem the user can fix; shown as one line, no traceback."""
