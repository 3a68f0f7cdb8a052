"""sslcli's own methods and domains as static data, so ``sslcli methods``, ``sslcli domains`` and the
CLI's early checks of ``--method`` and ``--domain`` answer without importing torch (seconds on a laptop).

``catalog.json`` is generated from the registries (``sslcli.registry``), never edited by hand:
``python -m sslcli.catalog_build`` writes it, and tests/test_catalog.py fails when it is out of date.
Plug-ins (entry points of other distributions) are not in it: the CLI asks the registries for them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sslcli.registry import unknown


@dataclass(frozen=True)
class MethodEntry:
    accepts: str  # the input kinds it trains on, e.g. "image2d, spectrogram"
    paper: str
    domains: tuple[str, ...]  # the domains whose samples the method accepts, sorted
    description: str  # "<kind>: <what it learns from>"

    @property
    def kind(self) -> str:
        return self.description.split(":", 1)[0]


@dataclass(frozen=True)
class DomainEntry:
    inputs: str  # the kinds of its samples' inputs, e.g. "clip, spectrogram"
    input: str  # the default input size with its unit
    identifying_paths: bool  # file and folder names may identify people: never echo a data path
    description: str


CATALOG_FILE = Path(__file__).with_name("catalog.json")


def catalog_entries(tables: dict) -> tuple[dict[str, MethodEntry], dict[str, DomainEntry]]:
    """The method and domain entries of catalog ``tables`` (``catalog.json``'s, or
    ``catalog_build.catalog``'s with plug-ins)."""
    methods = {
        name: MethodEntry(**{**fields, "domains": tuple(fields["domains"])})
        for name, fields in tables["methods"].items()
    }
    domains = {name: DomainEntry(**fields) for name, fields in tables["domains"].items()}
    return methods, domains


METHOD_ENTRIES, DOMAIN_ENTRIES = catalog_entries(json.loads(CATALOG_FILE.read_text(encoding="utf-8")))


def methods_for(domain: str) -> list[str]:
    return [name for name, entry in METHOD_ENTRIES.items() if domain in entry.domains]


def fitting_default(default: str, fitting: list[str]) -> str:
    """The method a run on a domain trains when none is named: ``default`` (the config's, simclr) where
    it is one of the domain's ``fitting`` methods, else the first of them (audiovisual: avid, the only
    one taking a clip with its soundtrack); ``default`` when none fits (the method check says why)."""
    return default if default in fitting or not fitting else sorted(fitting)[0]


def unsupported(method: str, domain: str) -> str:
    """Why ``method`` cannot train on ``domain``'s samples, and which methods can (from this table)."""
    entry = DOMAIN_ENTRIES[domain]
    return unsupported_text(method, domain, entry.inputs, METHOD_ENTRIES[method].accepts, methods_for(domain))


def unsupported_text(method: str, domain: str, inputs: str, accepts: str, working: list[str]) -> str:
    """The one-line refusal of a method for a domain, whether told by this table or by the registries
    (a plug-in's)."""
    return (
        f"method {method!r} does not support domain {domain!r} ({inputs} inputs); it accepts: {accepts}; "
        f"methods for {domain!r}: {', '.join(working) or 'none'}"
    )


def method_domain_problem(method: str, domain: str) -> str | None:
    """A one-line reason ``--method method --domain domain`` cannot run, from this table alone."""
    if domain not in DOMAIN_ENTRIES:
        return unknown("domain", domain, DOMAIN_ENTRIES)
    if method not in METHOD_ENTRIES:
        return unknown("method", method, METHOD_ENTRIES)
    return None if domain in METHOD_ENTRIES[method].domains else unsupported(method, domain)
