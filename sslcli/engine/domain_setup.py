"""The run's one domain: looked up, configured with its typed ``views`` options (parsed once) and
bound to the run directory; and which methods fit it, from its input specs."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from sslcli.catalog import fitting_default, unsupported_text
from sslcli.config import PretrainConfig, describe_errors
from sslcli.domains import Domain, DomainError
from sslcli.errors import UserError
from sslcli.methods import Method
from sslcli.registry import DOMAINS, METHODS


def domain_class(name: str) -> type[Domain]:
    try:
        return DOMAINS[name]
    except KeyError as err:
        raise UserError(err.args[0]) from None


def configure_domain(domain: Domain, views: dict) -> Domain:
    """``domain`` configured with the ``views`` table, parsed into its ``Options``; a bad option is a
    one-line user error naming it."""
    try:
        domain.configure(domain.parse_options(views))
    except ValidationError as err:
        raise UserError(f"view options of {domain.name}: {describe_errors(err, 'views.')}") from None
    except ValueError as err:  # an unknown option name
        raise UserError(f"view options of {domain.name}: {err}") from None
    return domain


def configured_domain(name: str, views: dict | None = None) -> Domain:
    """A new instance of domain ``name`` configured with ``views`` (not bound to a run)."""
    return configure_domain(domain_class(name)(), views or {})


def bound_domain(name: str, run_dir: Path, views: dict, create: bool) -> Domain:
    """The domain ``name`` configured with ``views`` and bound to the run in ``run_dir``
    (``Domain.bind_run``: its per-run state, e.g. the medical id salt, lives on the instance); its
    ``DomainError`` becomes a one-line user error."""
    domain = configured_domain(name, views)
    try:
        domain.bind_run(run_dir, create)
    except DomainError as err:
        raise UserError(str(err)) from None
    return domain


def method_supports(method: type[Method], domain: Domain) -> bool:
    """Whether ``method`` fits ``domain``'s samples (``Method.fits``: by input kinds, never by name)."""
    return method.fits(domain.inputs(domain.default_input_size))


def lookup_method(name: str, domain: Domain) -> type[Method]:
    """The method ``name``, refused in one line where it does not fit ``domain``."""
    try:
        method = METHODS[name]
    except KeyError as err:
        raise UserError(err.args[0]) from None
    if not method_supports(method, domain):  # the catalog's words, also for a plug-in the catalog lacks
        inputs = ", ".join(spec.kind for spec in domain.inputs(domain.default_input_size).values())
        working = [other for other, cls in METHODS.items() if method_supports(cls, domain)]
        raise UserError(unsupported_text(name, domain.name, inputs, method.accepts_text(), working))
    return method


def with_method(config: PretrainConfig, domain: Domain) -> PretrainConfig:
    """``config`` with the method it trains: the one named (option or config file), else the default
    among the methods that fit ``domain`` (``catalog.fitting_default``)."""
    if "method" in config.model_fields_set:
        return config
    fitting = [name for name, method in METHODS.items() if method_supports(method, domain)]
    return config.updated(method=fitting_default(config.method, fitting))
