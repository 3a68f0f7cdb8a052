"""The natural domain's built-in sample: scikit-learn's 1797 handwritten digits as 8x8 PNGs.

Written once into the cache folder as ``train/<digit>/*.png`` (80%) and ``test/<digit>/*.png``
(20%, stratified, fixed seed), so ``sslcli pretrain`` without ``--data`` pretrains on the train
part and ``sslcli eval`` reports accuracy on digits the encoder never saw.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from sslcli.domains.sample_cache import materialise

SAMPLE_VERSION = "digits-v1"


def write_digits(staging: Path) -> None:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    pixels = np.round(digits.images * (255 / 16)).astype(np.uint8)  # (1797, 8, 8), 0..16 -> 0..255
    index = np.arange(len(pixels))
    train, test = train_test_split(index, test_size=0.2, stratify=digits.target, random_state=0)
    for split, members in (("train", train), ("test", test)):
        for i in sorted(members):
            folder = staging / split / str(digits.target[i])
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels[i], mode="L").save(folder / f"digit_{i:04d}.png")


def materialise_digits() -> tuple[Path, Path]:
    """(train, test) folders of the digits sample, written on first use."""
    return materialise(SAMPLE_VERSION, write_digits)
