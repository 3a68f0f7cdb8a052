"""``sslcli methods`` and ``sslcli domains``: what is available, one line each."""

from __future__ import annotations

import click


@click.command("methods")
def methods_command() -> None:
    """List SSL methods with their views, the input kinds they accept, and their paper."""
    from rich.table import Table

    from sslcli.cli.console import stdout_console
    from sslcli.methods import available_methods

    table = Table(title="methods")
    for column in ("name", "views", "accepts", "paper", "description"):
        table.add_column(column)
    for name, cls in available_methods().items():
        accepts = ", ".join(cls.accepts) + (" (colour)" if cls.needs_colour else "")
        table.add_row(name, cls.family, accepts, cls.paper, cls.description)
    stdout_console().print(table)


@click.command("domains")
def domains_command() -> None:
    """List data domains with their default input size and backbone."""
    from rich.table import Table

    from sslcli.cli.console import stdout_console
    from sslcli.domains import available_domains

    table = Table(title="domains")
    for column in ("name", "input", "backbone", "description"):
        table.add_column(column)
    for name, cls in available_domains().items():
        table.add_row(name, f"{cls.default_input_size}px", cls.default_backbone, cls.description)
    stdout_console().print(table)
