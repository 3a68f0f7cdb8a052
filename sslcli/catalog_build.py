"""Writes ``catalog.json``, the static catalog of sslcli's own methods and domains (``sslcli.catalog``),
from the registries: which method fits which domain is computed from their input kinds here.

    python -m sslcli.catalog_build           # rewrite sslcli/catalog.json
    python -m sslcli.catalog_build --check   # exit 1 when it is out of date
"""

from __future__ import annotations

import json
import sys

from sslcli.catalog import CATALOG_FILE
from sslcli.domains import Domain, InputSpec
from sslcli.registry import DOMAINS, METHODS, OWN_DISTRIBUTION, Registry


def default_inputs(domain: type[Domain]) -> dict[str, InputSpec]:
    """The inputs of ``domain``'s samples at its default size."""
    return domain().inputs(domain.default_input_size)


def catalog(own_only: bool = True) -> dict[str, dict[str, dict]]:
    """The catalog's tables: the methods and domains by name, sslcli's own only (``catalog.json``) or
    with the plug-ins (what ``sslcli methods`` lists where any is installed)."""

    def included(registry: Registry, name: str) -> bool:
        return not own_only or registry.origin(name) == OWN_DISTRIBUTION

    domains = {name: cls for name, cls in DOMAINS.items() if included(DOMAINS, name)}
    inputs = {name: default_inputs(cls) for name, cls in domains.items()}
    methods = {
        name: {
            "accepts": cls.accepts_text(),
            "paper": cls.paper,
            "domains": [domain for domain, specs in inputs.items() if cls.fits(specs)],
            "description": cls.description,
        }
        for name, cls in METHODS.items()
        if included(METHODS, name)
    }
    domain_rows = {
        name: {
            "inputs": ", ".join(spec.kind for spec in inputs[name].values()),
            "input": f"{cls.default_input_size}{cls.input_size_unit}",
            "identifying_paths": cls.identifying_paths,
            "description": cls.description,
        }
        for name, cls in domains.items()
    }
    return {"methods": methods, "domains": domain_rows}


def catalog_text() -> str:
    return json.dumps(catalog(), indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = catalog_text()
    if argv == ["--check"]:
        current = CATALOG_FILE.read_text(encoding="utf-8") == text
        state = "current" if current else "out of date: python -m sslcli.catalog_build writes it"
        print(f"{CATALOG_FILE.name} is {state}")
        return 0 if current else 1
    CATALOG_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {CATALOG_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
