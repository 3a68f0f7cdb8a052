"""Errors that reach the user as one line (no traceback)."""


class UserError(Exception):
    """Bad input from the user: a missing path, an unknown name, an unreadable run directory."""
