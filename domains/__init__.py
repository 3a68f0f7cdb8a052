"""Modality adapters (installed as ``sslcli.domains``): discovery, decoding, views.

Each domain is an entry point of group ``sslcli.domains`` in pyproject.toml, which
``sslcli.registry.DOMAINS`` loads (a domain package imports nothing from the application).
"""

from sslcli.domains.base import (
    BadItemError,
    ChannelNormalisation,
    Domain,
    DomainError,
    InputSpec,
    Item,
    Sample,
)

__all__ = [
    "BadItemError",
    "ChannelNormalisation",
    "Domain",
    "DomainError",
    "InputSpec",
    "Item",
    "Sample",
]
