"""Consoles: progress and notes on stderr, results on stdout. Rich honours NO_COLOR."""

from rich.console import Console


def stderr_console(quiet: bool = False) -> Console:
    """Progress and notes. Written to a file (nohup, SLURM, CI) a message stays one line, however
    long, and progress comes as plain lines (``reporting.progress``)."""
    console = Console(stderr=True, quiet=quiet)
    console.soft_wrap = not console.is_terminal
    return console


def stdout_console() -> Console:
    return Console()
