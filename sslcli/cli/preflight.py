"""Checks of a command's options and paths that need no torch. Commands run them before importing it, so a
typo (``--method nosuch``, a missing ``--data`` or ``--run``) answers at once instead of after seconds
of torch import (``benchmarks/bench_cli_errors.py`` times it). The jobs check the same things again
where they act on them."""

from __future__ import annotations

from pathlib import Path

from sslcli.catalog import DOMAIN_ENTRIES, METHOD_ENTRIES, fitting_default, method_domain_problem, methods_for
from sslcli.config import PretrainConfig, load_run_config
from sslcli.data_root import data_root_problem, describe_data_root, file_problem
from sslcli.errors import UserError
from sslcli.registry import DOMAINS, METHODS
from sslcli.run_dir import CONFIG, start_refusal


def check_data(data: Path, domain: str) -> None:
    """``data`` exists and is a folder; named only as "--data" where paths may identify patients."""
    entry = DOMAIN_ENTRIES.get(domain)
    where = describe_data_root(data, entry is None or entry.identifying_paths)
    problem = data_root_problem(data.expanduser(), where)
    if problem:
        raise UserError(problem)


def registered_by_an_extension(method: str, domain: str) -> bool:
    """Whether ``method`` or ``domain`` is not sslcli's own but registered by code imported before the
    CLI (a new modality, as tests/engine/test_new_modality.py adds one) or declared as an entry point
    by another distribution (a plug-in): then the job checks them, not the catalog. Imports nothing."""
    return (method not in METHOD_ENTRIES and METHODS.holds(method)) or (
        domain not in DOMAIN_ENTRIES and DOMAINS.holds(domain)
    )


def method_to_train(config: PretrainConfig) -> str:
    """The method named (option or config file), else the domain's default (``catalog.fitting_default``;
    ``engine.setup.with_method`` resolves the same from the registries)."""
    if "method" in config.model_fields_set or config.domain not in DOMAIN_ENTRIES:
        return config.method
    return fitting_default(config.method, methods_for(config.domain))


def check_pretrain(config: PretrainConfig, resuming: bool) -> None:
    """Method and domain names (a new run's; a resumed run keeps its own), ``--out``, ``--data``."""
    run_dir = Path(config.out)
    refusal = start_refusal(run_dir, resuming)
    if refusal:
        raise UserError(refusal)
    domain = config.domain
    if resuming and (run_dir / CONFIG).is_file():
        domain = load_run_config(run_dir).domain
    elif not registered_by_an_extension(config.method, config.domain):
        problem = method_domain_problem(method_to_train(config), config.domain)
        if problem:
            raise UserError(problem)
    if config.data is not None:
        check_data(Path(config.data), domain)
    if config.init is not None and not resuming:
        problem = file_problem(Path(config.init).expanduser(), f"--init {config.init}")
        if problem:
            raise UserError(problem)  # as engine.init_weights says it


def check_run(run_dir: Path, *data: Path | None) -> None:
    """``run_dir`` holds a readable run config, and each data folder given exists."""
    config = load_run_config(run_dir)
    for folder in data:
        if folder is not None:
            check_data(folder, config.domain)
