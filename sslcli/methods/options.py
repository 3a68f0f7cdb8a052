"""Typed method options: a method's ``method_options`` are the keyword arguments of its constructor.

Their annotations carry the constraints (pydantic ``Field``s inside ``Annotated``, e.g. ``Positive``),
so one pydantic model per method, built from the signature, validates a run's options before the
run directory exists (every error naming its field) and lists them for ``sslcli methods --show``.
"""

from __future__ import annotations

import functools
import inspect
import json
import types
import typing
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model

Positive = Annotated[float, Field(gt=0)]  # temperatures, loss weights, noise levels
NonNegative = Annotated[float, Field(ge=0)]  # loss weights that may switch a term off
Fraction = Annotated[float, Field(ge=0, le=1)]  # momenta
OpenFraction = Annotated[float, Field(gt=0, lt=1)]  # mask ratios: neither nothing nor everything
Count = Annotated[int, Field(ge=1)]  # widths, depths, queue sizes, iterations

BOUND_SYMBOLS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}

# Constructor parameters the engine fills in, not options a user sets.
ENGINE_ARGUMENTS = ("self", "backbone", "feature_dim", "spec", "inputs")


@functools.cache
def options_model(method: type) -> type[BaseModel]:
    """The pydantic model of ``method``'s options (strict types, unknown names refused)."""
    hints = typing.get_type_hints(method.__init__, include_extras=True)
    fields = {
        parameter.name: (hints[parameter.name], parameter.default)
        for parameter in inspect.signature(method.__init__).parameters.values()
        if parameter.name not in ENGINE_ARGUMENTS and parameter.kind is parameter.POSITIONAL_OR_KEYWORD
    }
    config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)
    return create_model(f"{method.__name__}Options", __config__=config, **fields)


def validate_options(method: type, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` checked against ``method``'s options, every option filled in (defaults included).

    Read as JSON, as they come from a config file: lists stand for tuples, whole numbers for floats.
    Raises pydantic's ``ValidationError``.
    """
    return options_model(method).model_validate_json(json.dumps(values)).model_dump()


def describe_option(name: str, model: type[BaseModel]) -> tuple[str, str, str]:
    """(option, type with its constraints, default) of one field, as ``--show`` lists them."""
    field = model.model_fields[name]
    return (
        name,
        " ".join([type_name(field.annotation), bounds_text(field.metadata)]).strip(),
        repr(field.default),
    )


def bounds_text(metadata: list) -> str:
    """``>= 0, <= 1`` from a field's ``annotated_types`` bounds."""
    return ", ".join(
        f"{symbol} {getattr(rule, bound)}"
        for rule in metadata
        for bound, symbol in BOUND_SYMBOLS.items()
        if getattr(rule, bound, None) is not None
    )


def type_name(annotation: Any) -> str:
    """A short name for a field's type: ``float``, ``auto | file``, ``(float, float) each > 0``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Annotated:
        inner = [rule for rule in args[1:] if not hasattr(rule, "metadata")]
        inner += [rule for info in args[1:] for rule in getattr(info, "metadata", [])]
        return " ".join([type_name(args[0]), bounds_text(inner)]).strip()
    if origin is typing.Literal:
        return " | ".join(str(arg) for arg in args)
    if origin is tuple:
        items = [type_name(arg) for arg in args]
        kinds = [item.split(" ", 1) for item in items]
        if len(set(items)) == 1 and len(kinds[0]) == 2:
            return f"({', '.join(kind[0] for kind in kinds)}) each {kinds[0][1]}"
        return f"({', '.join(items)})"
    if origin in (typing.Union, types.UnionType):
        return " or ".join("None" if arg is type(None) else type_name(arg) for arg in args)
    return getattr(annotation, "__name__", str(annotation))


__all__ = [
    "Count",
    "Fraction",
    "NonNegative",
    "OpenFraction",
    "Positive",
    "describe_option",
]
