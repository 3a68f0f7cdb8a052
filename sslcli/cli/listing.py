"""``sslcli methods`` and ``sslcli domains``: what is available, one line each; ``--show NAME`` gives
one entry's options with their types and defaults."""

from __future__ import annotations

import click

from sslcli.registry import DOMAINS, METHODS


def listed_entries() -> tuple[dict, dict]:
    """The method and domain entries to list: the static catalog's (no torch), and where another
    distribution declares a method or domain entry point, everything the registries hold (plug-ins
    are described by loading them, which imports torch)."""
    from sslcli.catalog import DOMAIN_ENTRIES, METHOD_ENTRIES, catalog_entries
    from sslcli.registry import entry_point_names

    plugins = [*set(entry_point_names(METHODS.group)) - set(METHOD_ENTRIES)] + [
        *set(entry_point_names(DOMAINS.group)) - set(DOMAIN_ENTRIES)
    ]
    if not plugins:
        return METHOD_ENTRIES, DOMAIN_ENTRIES
    from sslcli.catalog_build import catalog

    return catalog_entries(catalog(own_only=False))


def listed_entry(what: str, name: str, entries: dict):
    """Entry ``name`` of ``entries``; a one-line error naming the close matches if there is none."""
    from sslcli.errors import UserError
    from sslcli.registry import unknown

    if name not in entries:
        raise UserError(unknown(what, name, entries))
    return entries[name]


@click.command("methods")
@click.option("--show", "show", metavar="NAME", help="One method's description, paper and options.")
def methods_command(show: str | None) -> None:
    """List the SSL methods, the domains each trains on and its kind (from static metadata: no torch)."""
    methods, _ = listed_entries()
    if show is not None:
        show_method(show, listed_entry("method", show, methods))
        return
    rows = [(name, entry.kind, ", ".join(entry.domains)) for name, entry in methods.items()]
    print_listing("methods", ("name", "kind", "domains"), rows, "sslcli methods --show NAME: details")


def show_method(name: str, entry) -> None:
    from sslcli.cli.console import stdout_console

    cls = METHODS[name]
    console = stdout_console()
    console.print(f"{name}: {cls.description}", markup=False, highlight=False)
    console.print(f"paper: {cls.paper}", markup=False, highlight=False)
    console.print(f"views: {cls.family}; accepts: {entry.accepts}; domains: {', '.join(entry.domains)}")
    console.print(method_options_table(name, METHODS))


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
    methods, domains = listed_entries()
    if show is not None:
        fitting = [method for method, entry in methods.items() if show in entry.domains]
        show_domain(show, listed_entry("domain", show, domains), fitting)
        return
    rows = [(name, entry.input, entry.description) for name, entry in domains.items()]
    print_listing("domains", ("name", "input", "description"), rows, "sslcli domains --show NAME: options")


def show_domain(name: str, entry, methods: list[str]) -> None:
    from sslcli.cli.console import stdout_console

    console = stdout_console()
    console.print(f"{name}: {entry.description}", markup=False, highlight=False)
    console.print(f"input: {entry.input} ({entry.inputs}); methods: {', '.join(methods)}")
    console.print(domain_options_table(name, DOMAINS))


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
    """The ``views`` options of domain ``name`` (a registered one): the fields of its ``Options``."""
    from sslcli.methods.options import describe_option

    options = domains[name].Options
    declared = [field for cls in options.__mro__ for field in vars(cls).get("__annotations__", {})]
    in_order = dict.fromkeys(field for field in declared if field in options.model_fields)  # settings first
    rows = [describe_option(field, options) for field in in_order]
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
