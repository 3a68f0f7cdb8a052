"""Errors that reach the user as one line (no traceback), and the escaping that keeps them one line."""

from __future__ import annotations

import unicodedata


class UserError(Exception):
    """Bad input from the user: a missing path, an unknown name, an unreadable run directory."""


def printable(text: str) -> str:
    """``text`` with control, format and line/paragraph-separator characters escaped (``\\n``,
    ``\\x1b``, ``\\u202e``), so a file name cannot split a one-line message or spoof what follows."""
    out = []
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            code = ord(char)
            out.append(repr(char)[1:-1] if code < 0x80 else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)
