"""What a domain's samples hold, as encoders and methods see them: one ``InputSpec`` per input."""

from __future__ import annotations

from dataclasses import dataclass

# The layout of one sample's tensor for sslcli's own input kinds; a new kind names its own in its specs.
# C channels, H x W pixels, F frequency bands x T frames (a spectrogram), T frames of a clip, D slices.
KIND_LAYOUTS = {"image2d": "CHW", "spectrogram": "CFT", "clip": "TCHW", "volume": "CDHW"}


@dataclass(frozen=True)
class ChannelNormalisation:
    """What a domain's views did to each channel last: ``(x - mean) / std`` (torchvision's
    ``Normalize``), so a method with colour targets can undo it and export can record it."""

    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclass(frozen=True)
class InputSpec:
    """One input of a domain's samples, as encoders and methods see it after the views.

    ``kind``: what the tensor is (``image2d``, ``spectrogram``, ``clip``, ``volume``, or a kind a
    plug-in adds); encoders are registered by kind and methods accept kinds. ``size``: the extent of
    every axis but the channels, in layout order (H, W), (F, T), (T, H, W) or (D, H, W), never assumed
    square. ``layout``: the axes of one sample's tensor, one letter each, including ``C`` (from
    ``KIND_LAYOUTS`` for the kinds above; required for any other). ``colour``: the channels are colour
    (RGB photos), not e.g. CT windows. ``normalisation``: the per-channel mean and std the views
    applied, None where they standardise otherwise.
    """

    kind: str
    channels: int
    size: tuple[int, ...]
    colour: bool = False
    normalisation: ChannelNormalisation | None = None
    layout: str = ""

    def __post_init__(self) -> None:
        if not self.layout:
            if self.kind not in KIND_LAYOUTS:
                raise ValueError(f"input kind {self.kind!r} is not one of sslcli's: give its layout")
            object.__setattr__(self, "layout", KIND_LAYOUTS[self.kind])
        if sorted(self.layout) != sorted(set(self.layout)) or "C" not in self.layout:
            raise ValueError(f"layout {self.layout!r}: one letter per axis, C among them")
        if len(self.layout) != len(self.size) + 1:
            raise ValueError(
                f"layout {self.layout!r} has {len(self.layout)} axes; size {self.size} + C has more or fewer"
            )
        if self.normalisation is not None and not (
            len(self.normalisation.mean) == len(self.normalisation.std) == self.channels
        ):
            raise ValueError(f"normalisation needs a mean and a std for each of the {self.channels} channels")

    @property
    def shape(self) -> tuple[int, ...]:
        """One sample's tensor shape, in ``layout`` order: (C, H, W), (T, C, H, W), ..."""
        extents = iter(self.size)
        return tuple(self.channels if axis == "C" else next(extents) for axis in self.layout)
