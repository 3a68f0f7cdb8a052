"""``sslcli methods`` and ``sslcli domains``: what is available, one line each; ``--show NAME`` gives
one entry's options with their types and defaults."""

from __future__ import annotations

import click


@click.command("methods")
@click.option("--show", "show", metavar="NAME", help="One method's options, defaults and paper.")
def methods_command(show: str | None) -> None:
    """List SSL methods with their views, the input kinds they accept, and their paper."""
    from rich.table import Table

    from sslcli.cli.console import stdout_console
    from sslcli.methods import available_methods

    methods = available_methods()
    if show is not None:
        stdout_console().print(method_options_table(show, methods))
        return
    table = Table(title="methods")
    for column in ("name", "views", "accepts", "paper", "description"):
        table.add_column(column)
    for name, cls in methods.items():
        accepts = ", ".join(cls.accepts) + (" (colour)" if cls.needs_colour else "")
        table.add_row(name, cls.family, accepts, cls.paper, cls.description)
    stdout_console().print(table)


def method_options_table(name: str, methods: dict):
    """The ``method_options`` of method ``name``: its typed options, constraints and defaults."""
    from sslcli.errors import UserError
    from sslcli.methods.options import describe_option, options_model

    if name not in methods:
        raise UserError(f"unknown method {name!r}; available: {', '.join(methods)}")
    cls = methods[name]
    model = options_model(cls)
    rows = [describe_option(field, model) for field in model.model_fields]
    return options_table(f"{name}: {cls.description} ({cls.paper}); set as method_options in --config", rows)


@click.command("domains")
@click.option("--show", "show", metavar="NAME", help="One domain's view options and defaults.")
def domains_command(show: str | None) -> None:
    """List data domains with their default input size and backbone."""
    from rich.table import Table

    from sslcli.cli.console import stdout_console
    from sslcli.domains import available_domains

    domains = available_domains()
    if show is not None:
        stdout_console().print(domain_options_table(show, domains))
        return
    table = Table(title="domains")
    for column in ("name", "input", "backbone", "description"):
        table.add_column(column)
    for name, cls in domains.items():
        size = f"{cls.default_input_size}{cls.input_size_unit}"
        table.add_row(name, size, cls.default_backbone, cls.description)
    stdout_console().print(table)


def domain_options_table(name: str, domains: dict):
    """The ``views`` options of domain ``name``: the fields of its option models and multi-crop's."""
    from sslcli.domains.options import MultiCropOptions
    from sslcli.errors import UserError
    from sslcli.methods.options import describe_option

    if name not in domains:
        raise UserError(f"unknown domain {name!r}; available: {', '.join(domains)}")
    domain = domains[name]()
    rows = [
        describe_option(field, model)
        for model in [*domain.option_models(), MultiCropOptions]
        for field in model.model_fields
    ]
    return options_table(f"{name}: {domain.description}; set in the views table of --config", rows)


def options_table(title: str, rows: list[tuple[str, str, str]]):
    """A table of (option, type, default) rows."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("option", "type", "default"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    return table
