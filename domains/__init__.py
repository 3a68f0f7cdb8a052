"""Modality adapters (installed as ``sslcli.domains``): discovery, decoding, views."""

from sslcli.domains import audio, audiovisual, medical, natural, video  # noqa: F401  (registers the domains)
from sslcli.domains.base import (
    BadItemError,
    Domain,
    DomainError,
    InputSpec,
    Item,
    Sample,
    available_domains,
    get_domain,
    register_domain,
)

__all__ = [
    "BadItemError",
    "Domain",
    "DomainError",
    "InputSpec",
    "Item",
    "Sample",
    "available_domains",
    "get_domain",
    "register_domain",
]
