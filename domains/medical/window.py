"""Windowing: modality values -> the canonical medical tensor (3, H, W) float32.

Canonical scale ("window units"): 0 is the lower edge of the display window (black), 1 its upper
edge (white); values outside [0, 1] are kept rather than clipped, so that augmentation can jitter
the window without losing the tissue just outside it. The eval transform and the views clip to
[0, 1] before normalising. MONOCHROME1 (and Presentation LUT Shape INVERSE) is inverted after
windowing (PS3.3 C.7.6.3.1.2, C.11.6), as 1 - value.

Window modes:
- ``auto``: CT -> ``wide`` (-1000..1000 HU, Models Genesis, Zhou et al. MICCAI 2019); every other
  modality -> ``percentile``.
- ``file``: the file's own first VOI window (Window Center/Width, per frame in enhanced objects);
  ``percentile`` where it has none.
- ``lung``, ``mediastinum``, ``bone``, ``brain``, ``wide``: CT presets (centre, width in HU); other
  modalities have no HU scale and use ``percentile``.
- ``multi``: three windows as three channels: CT lung / mediastinum / bone; otherwise the
  percentile ranges 1-99, 5-95 and 0.5-99.5.
- ``percentile``: the 1st..99th percentile of the slice (robust to hot pixels and padding), the
  usual normalisation for MR, US, CR and other modalities without a calibrated scale (MONAI
  ``ScaleIntensityRangePercentiles``).
Colour images (RGB, YBR, palette) keep their three colour channels in [0, 1]; no window applies.
"""

from __future__ import annotations

import numpy as np
from sslcli.domains.medical.decode import Frame

CT_PRESETS = {  # (centre, width) in HU, clinical presets
    "lung": (-600.0, 1500.0),
    "mediastinum": (40.0, 400.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
    "wide": (0.0, 2000.0),
}
CT_MULTI = ("lung", "mediastinum", "bone")
PERCENTILE_RANGE = (1.0, 99.0)
PERCENTILE_MULTI = ((1.0, 99.0), (5.0, 95.0), (0.5, 99.5))
WINDOW_MODES = ("auto", "file", "multi", "percentile", *CT_PRESETS)


def linear_window(values: np.ndarray, centre: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """VOI window in window units, unclipped (PS3.3 C.11.2.1.2.1 LINEAR, C.11.2.1.3.2 LINEAR_EXACT,
    C.11.2.1.3.1 SIGMOID). LINEAR with width <= 1 is the standard's threshold."""
    if function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(-4.0 * (values - centre) / width))
    if function == "LINEAR_EXACT":
        return (values - centre) / width + 0.5
    if width <= 1.0:
        return (values > centre - 0.5).astype(np.float32)
    return (values - (centre - 0.5)) / (width - 1.0) + 0.5


def percentile_window(values: np.ndarray, reference: np.ndarray, low: float, high: float) -> np.ndarray:
    """``values`` scaled so the ``low``/``high`` percentiles of ``reference`` land on 0 and 1."""
    bottom, top = np.percentile(reference, [low, high])
    return (values - bottom) / (top - bottom if top > bottom else 1.0)


def grey_windows(frame: Frame, mode: str):
    """The window functions (values, reference) -> window units that ``mode`` picks for ``frame``."""
    ct = frame.modality == "CT"
    if mode == "auto":
        mode = "wide" if ct else "percentile"
    if mode == "file" and frame.windows:
        centre, width = frame.windows[0]
        return [lambda v, _r: linear_window(v, centre, width, frame.voi_function)]
    if mode in CT_PRESETS and ct:
        centre, width = CT_PRESETS[mode]
        return [lambda v, _r: linear_window(v, centre, width)]
    if mode == "multi" and ct:
        return [lambda v, _r, p=CT_PRESETS[name]: linear_window(v, *p) for name in CT_MULTI]
    if mode == "multi":
        return [lambda v, r, lo=lo, hi=hi: percentile_window(v, r, lo, hi) for lo, hi in PERCENTILE_MULTI]
    return [lambda v, r: percentile_window(v, r, *PERCENTILE_RANGE)]


def to_canonical(centre: Frame, neighbours: list[Frame], mode: str) -> np.ndarray:
    """(3, H, W) float32 in window units.

    2-D (``neighbours`` empty): one window replicated to three channels, or three windows (``multi``).
    2.5-D (``neighbours`` = previous and next slice): the three slices through the centre slice's window.
    """
    if centre.colour:
        return np.ascontiguousarray(centre.values.transpose(2, 0, 1))  # (H, W, 3) -> (3, H, W)
    windows = grey_windows(centre, mode)
    if neighbours:
        slices = [neighbours[0].values, centre.values, neighbours[1].values]
        channels = [windows[0](s, centre.values) for s in slices]
    elif len(windows) == 3:
        channels = [w(centre.values, centre.values) for w in windows]
    else:
        channels = [windows[0](centre.values, centre.values)] * 3
    stacked = np.stack(channels).astype(np.float32)  # (3, H, W)
    return 1.0 - stacked if centre.invert else stacked
