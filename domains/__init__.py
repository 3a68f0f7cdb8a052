"""Modality adapters (installed as ``sslcli.domains``): discovery, decoding, views.

Each domain is an entry point of group ``sslcli.domains`` in pyproject.toml, which
``sslcli.registry.DOMAINS`` loads (a domain package imports nothing from the application).
"""

from sslcli.domains.base import Domain, DomainError, Sample
from sslcli.domains.discovery import BadItemError, Item
from sslcli.domains.inputs import ChannelNormalisation, InputSpec

__all__ = [
    "BadItemError",
    "ChannelNormalisation",
    "Domain",
    "DomainError",
    "InputSpec",
    "Item",
    "Sample",
]
