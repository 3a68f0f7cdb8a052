"""``sslcli methods`` and ``sslcli domains``: what is available, one line each; ``--show NAME`` gives
one entry's options with their types and defaults."""

from __future__ import annotations

import click


@click.command("methods")
@click.option("--show", "show", metavar="NAME", help="One method's description, paper and options.")
def methods_command(show: str | None) -> None:
    """List the SSL methods, the domains each trains on and its kind (from static metadata: no torch)."""
    from sslcli.catalog import METHODS

    if show is not None:
        show_method(show)
        return
    rows = [(name, entry.kind, ", ".join(entry.domains)) for name, entry in METHODS.items()]
    print_listing("methods", ("name", "kind", "domains"), rows, "sslcli methods --show NAME: details")


def show_method(name: str) -> None:
    from sslcli.catalog import METHODS, unknown_name
    from sslcli.cli.console import stdout_console
    from sslcli.errors import UserError

    if name not in METHODS:
        raise UserError(unknown_name("method", name, METHODS))
    from sslcli.methods import available_methods

    cls, entry = available_methods()[name], METHODS[name]
    console = stdout_console()
    console.print(f"{name}: {cls.description}", markup=False, highlight=False)
    console.print(f"paper: {cls.paper}", markup=False, highlight=False)
    console.print(f"views: {cls.family}; accepts: {entry.accepts}; domains: {', '.join(entry.domains)}")
    console.print(method_options_table(name, available_methods()))


def method_options_table(name: str, methods: dict):
    """The ``method_options`` of method ``name`` (a registered one): typed, with constraints and defaults."""
    from sslcli.methods.options import describe_option, options_model

    model = options_model(methods[name])
    rows = [describe_option(field, model) for field in model.model_fields]
    return options_table("method_options (set in --config)", rows)


@click.command("domains")
@click.option("--show", "show", metavar="NAME", help="One domain's view options and defaults.")
def domains_command(show: str | None) -> None:
    """List the data domains with their default input (from static metadata: no torch)."""
    from sslcli.catalog import DOMAINS

    if show is not None:
        show_domain(show)
        return
    rows = [(name, entry.input, entry.description) for name, entry in DOMAINS.items()]
    print_listing("domains", ("name", "input", "description"), rows, "sslcli domains --show NAME: options")


def show_domain(name: str) -> None:
    from sslcli.catalog import DOMAINS, methods_for, unknown_name
    from sslcli.cli.console import stdout_console
    from sslcli.errors import UserError

    if name not in DOMAINS:
        raise UserError(unknown_name("domain", name, DOMAINS))
    from sslcli.domains import available_domains

    entry = DOMAINS[name]
    console = stdout_console()
    console.print(f"{name}: {entry.description}", markup=False, highlight=False)
    console.print(f"input: {entry.input} ({entry.inputs}); methods: {', '.join(methods_for(name))}")
    console.print(domain_options_table(name, available_domains()))


def print_listing(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]], caption: str) -> None:
    """A borderless table whose first column (the name to copy) never wraps."""
    from rich import box
    from rich.table import Table

    from sslcli.cli.console import stdout_console

    table = Table(title=title, caption=caption, box=box.SIMPLE_HEAD)
    table.add_column(columns[0], no_wrap=True)
    for column in columns[1:]:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    stdout_console().print(table)


def domain_options_table(name: str, domains: dict):
    """The ``views`` options of domain ``name`` (a registered one): the fields of its option models
    and multi-crop's."""
    from sslcli.domains.options import MultiCropOptions
    from sslcli.methods.options import describe_option

    domain = domains[name]()
    rows = [
        describe_option(field, model)
        for model in [*domain.option_models(), MultiCropOptions]
        for field in model.model_fields
    ]
    return options_table("view options (set in the views table of --config)", rows)


def options_table(title: str, rows: list[tuple[str, str, str]]):
    """A table of (option, type, default) rows."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("option", "type", "default"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    return table
