"""Consoles: progress and notes on stderr, results on stdout. Rich honours NO_COLOR."""

from rich.console import Console


def stderr_console() -> Console:
    return Console(stderr=True)


def stdout_console() -> Console:
    return Console()
