"""SSL methods, one file each, registered by name."""

from sslcli.methods import simclr  # noqa: F401  (registers the method)
from sslcli.methods.base import Method, available_methods, get_method, register_method

__all__ = ["Method", "available_methods", "get_method", "register_method"]
