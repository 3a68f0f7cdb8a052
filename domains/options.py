"""Typed view options shared by the domains (pydantic).

A domain's ``views`` options are the fields of its ``Domain.Options`` model, which combines the
models below and the domain's own (parsed once per run: ``Domain.parse_options``). Models are
strict (``16.5`` is no integer, ``"0.5"`` no number) and read values as JSON, as they come from a
config file, so lists stand for tuples. A bad value raises pydantic's ``ValidationError`` (a
``ValueError``) naming the field; the engine reports it on one line before a run directory exists.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _ordered(bounds: tuple[float, float]) -> tuple[float, float]:
    if bounds[0] > bounds[1]:
        raise ValueError(f"the lower bound {bounds[0]} exceeds the upper bound {bounds[1]}")
    return bounds


Probability = Annotated[float, Field(ge=0, le=1)]
NonNegative = Annotated[float, Field(ge=0)]
_Scale = Annotated[float, Field(gt=0, le=1)]
_PositiveFloat = Annotated[float, Field(gt=0)]
CropScale = Annotated[tuple[_Scale, _Scale], AfterValidator(_ordered)]  # fraction of the area kept
Range = Annotated[tuple[float, float], AfterValidator(_ordered)]  # (low, high), e.g. a gain in dB
PositiveRange = Annotated[tuple[_PositiveFloat, _PositiveFloat], AfterValidator(_ordered)]


class ViewOptions(BaseModel):
    """Base of the option models: strict, unknown names refused, immutable."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)


class MultiCropOptions(ViewOptions):
    """Multi-crop views (Caron et al., DINO, ICCV 2021: 2 global crops of scale 0.4-1 at 224 px, local
    crops of scale 0.05-0.4 at 96 px). ``local_size`` None: 96/224 of the input size. The scales reach
    the domain's ``augment`` as its ``crop_scale`` option."""

    local_crops: Annotated[int, Field(ge=0)] = 6
    global_scale: CropScale = (0.4, 1.0)
    local_scale: CropScale = (0.05, 0.4)
    local_size: Annotated[int, Field(ge=8)] | None = None
