"""SSL methods, one file each, registered by name in ``sslcli.registry.METHODS``.

Importing this package imports every module in it, so a new method file registers itself by being here.
"""

import importlib
import pkgutil

from sslcli.methods.base import Method, StepContext, StepOutput

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["Method", "StepContext", "StepOutput"]
