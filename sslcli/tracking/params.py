"""The resolved config as flat tracker params, without anything that may identify a patient."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sslcli.tracking.base import ParamValue

# Paths a private domain's user chose: a folder name may be a patient's (see run_record.py)
PRIVATE_FIELDS = ("data", "out")


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, ParamValue]:
    """``{"views": {"crop": 0.2}}`` -> ``{"views.crop": 0.2}``; lists and ``None`` as text."""
    flat: dict[str, ParamValue] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, bool | int | float | str):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def tracking_params(
    config: dict[str, Any], data_set: Mapping[str, Any], private: bool
) -> dict[str, ParamValue]:
    """``config`` (``PretrainConfig.to_dict()``) and the data set's source and size, flattened; for a
    domain whose paths may identify patients (``private``) the data and run paths are left out."""
    shown = {k: v for k, v in config.items() if not (private and k in PRIVATE_FIELDS)}
    described = {"source": data_set.get("source"), "items": data_set.get("items")}
    return flatten({**shown, "data_set": described})


def run_name(config: dict[str, Any], private: bool) -> str:
    """The run directory's name, or for a private domain ``<method>-<domain>`` (no folder name)."""
    if private:
        return f"{config['method']}-{config['domain']}"
    return Path(config["out"]).name
