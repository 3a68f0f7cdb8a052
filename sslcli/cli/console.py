"""Consoles: progress and notes on stderr, results on stdout. Rich honours NO_COLOR."""

from rich.console import Console


def stderr_console(quiet: bool = False) -> Console:
    return Console(stderr=True, quiet=quiet)


def stdout_console() -> Console:
    return Console()
