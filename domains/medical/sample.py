"""The medical domain's built-in sample: the decodable images among pydicom's bundled test files.

pydicom ships ~90 decodable image files (CT, MR, CR, US incl. a 30-frame cine, NM, RT dose, SEG,
secondary capture) in every transfer-syntax family. They are linked once into the cache folder as
``train/<Modality>/<id>.dcm`` and ``test/<Modality>/<id>.dcm`` (every 4th file of a modality with at
least two files is held out, by a fixed hash order), so ``sslcli pretrain --domain medical`` runs
without ``--data`` and ``sslcli eval`` reports Modality accuracy on files the encoder never saw.
Link names are hashes of the file names, never the names. Files whose Modality is empty are
labelled ``unknown``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections import defaultdict
from pathlib import Path

import pydicom
from sslcli.domains.discovery import BadItemError
from sslcli.domains.medical.decode import read_frame
from sslcli.domains.medical.scan import discover_dicom
from sslcli.domains.sample_cache import materialise

SAMPLE_VERSION = f"dicom-v1-pydicom{pydicom.__version__}"
HOLD_OUT_EVERY = 4


def pydicom_test_files() -> Path:
    """pydicom's bundled ``data/test_files`` folder (no download: the files inside the wheel only)."""
    return Path(pydicom.__file__).parent / "data" / "test_files"


def decodable_files(root: Path) -> dict[Path, str]:
    """Files under ``root`` all of whose frames decode, mapped to their Modality (or ``unknown``)."""
    good: dict[Path, str] = {}
    failed: set[Path] = set()
    for item in discover_dicom(root, salt=b"sample"):
        if item.problem or item.path in failed:
            failed.add(item.path)
            continue
        try:
            read_frame(item.path, item.frame)
        except BadItemError:
            failed.add(item.path)
            good.pop(item.path, None)
            continue
        good[item.path] = dict(item.attributes).get("Modality", "unknown") or "unknown"
    return good


def link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.symlink(source, target)
    except OSError:  # file systems without symlinks
        shutil.copyfile(source, target)


def materialise_dicom_sample() -> tuple[Path, Path]:
    """(train, test) folders of the sample, written on first use."""
    return materialise(SAMPLE_VERSION, write_dicom_sample)


def write_dicom_sample(staging: Path) -> None:
    root = pydicom_test_files()
    by_modality: dict[str, list[tuple[str, Path]]] = defaultdict(list)
    for path, modality in decodable_files(root).items():
        name = hashlib.sha256(path.relative_to(root).as_posix().encode()).hexdigest()[:16]
        by_modality[modality].append((name, path))
    for modality, files in by_modality.items():
        for i, (name, path) in enumerate(sorted(files)):
            held_out = len(files) >= 2 and i % HOLD_OUT_EVERY == 1
            link(path, staging / ("test" if held_out else "train") / modality / f"{name}.dcm")
    (staging / "test").mkdir(exist_ok=True)
