"""DICOM decode + window throughput of the medical domain (slices/s), per transfer syntax.

Times ``MedicalDomain.load`` (header read, frame decode, modality LUT, window, MONOCHROME1 handling)
on one process, over (a) a synthetic 512x512 CT slice phantom written in four syntaxes (native,
RLE, JPEG-LS lossless, JPEG 2000 lossless) and (b) every decodable image among pydicom's bundled
test files (mixed sizes, 64x64 to 640x480). Prints a table; asserts nothing about speed.

    python benchmarks/bench_dicom.py [--repeats 3] [--slices 8] [--window auto]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)
from rich.console import Console
from rich.table import Table
from sslcli.domains import BadItemError
from sslcli.domains.medical.sample import pydicom_test_files

from sslcli.registry import DOMAINS

SYNTAXES = {
    "native (explicit VR LE)": ExplicitVRLittleEndian,
    "RLE lossless": RLELossless,
    "JPEG-LS lossless": JPEGLSLossless,
    "JPEG 2000 lossless": JPEG2000Lossless,
}


def phantom(size: int, seed: int) -> np.ndarray:
    """(size, size) int16 stored values of a CT-like slice: air, a water disc, a bone ring, noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size] / size - 0.5
    radius = np.hypot(x, y)
    hu = np.where(radius < 0.4, 0.0, -1000.0) + np.where((radius > 0.33) & (radius < 0.37), 900.0, 0.0)
    return (hu + rng.normal(0, 20, hu.shape) + 1024).astype(np.int16)


def write_series(folder: Path, syntax, slices: int, size: int) -> None:
    for i in range(slices):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = CTImageStorage, generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = CTImageStorage, meta.MediaStorageSOPInstanceUID, "CT"
        ds.set_pixel_data(phantom(size, i), "MONOCHROME2", 16)
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        if syntax != ExplicitVRLittleEndian:
            ds.compress(syntax)
        ds.save_as(folder / f"slice{i:03d}", enforce_file_format=True)


def throughput(domain, folder: Path, repeats: int) -> tuple[int, float, float]:
    """(slices, slices/s, megapixels/s): best of ``repeats`` passes over the folder's usable items."""
    items, pixels = [], 0
    for item in domain.discover(folder):  # warm-up pass, keeping the items that decode
        try:
            pixels += int(np.prod(domain.load(item)["image"].shape[1:]))
            items.append(item)
        except BadItemError:
            continue
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for item in items:
            domain.load(item)
        best = min(best, time.perf_counter() - start)
    return len(items), len(items) / best, pixels / best / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--slices", type=int, default=8, help="synthetic 512x512 slices per syntax")
    parser.add_argument("--window", default="auto")
    args = parser.parse_args()
    domain = DOMAINS["medical"]()
    domain.configure(domain.parse_options({"window": args.window}))
    table = Table(title=f"medical decode + window ({args.window}), one process, best of {args.repeats}")
    for column in ("data", "slices", "slices/s", "MPix/s"):
        table.add_column(column, justify="left" if column == "data" else "right")
    with tempfile.TemporaryDirectory() as tmp:
        folders = {f"CT 512x512, {name}": Path(tmp) / name.split()[0] for name in SYNTAXES}
        for folder, syntax in zip(folders.values(), SYNTAXES.values(), strict=True):
            folder.mkdir()
            write_series(folder, syntax, args.slices, 512)
        folders["pydicom test files (mixed)"] = pydicom_test_files()
        throughput(domain, pydicom_test_files(), 1)  # warm imports and caches before any timing
        for name, folder in folders.items():
            count, rate, mpix = throughput(domain, folder, args.repeats)
            table.add_row(name, str(count), f"{rate:.1f}", f"{mpix:.1f}")
    Console().print(table)


if __name__ == "__main__":
    main()
