"""DICOM fixtures: pydicom's bundled test files and a writer of small synthetic files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

STUDY, SERIES = generate_uid(), generate_uid()


@pytest.fixture(scope="session")
def dicom_test_files() -> Path:
    """pydicom's bundled test files (inside the installed wheel; nothing is downloaded)."""
    return Path(pydicom.__file__).parent / "data" / "test_files"


def write_dicom(path: Path, pixels: np.ndarray, interpretation: str = "MONOCHROME2", **attributes) -> Path:
    """A CT-like file holding ``pixels`` ((H, W), (F, H, W) or (H, W, 3)); ``attributes`` are set as given
    (``None`` removes one). Bits stored default to the dtype's size."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = STUDY, SERIES
    ds.Modality = "CT"
    ds.PatientName = "Synthetic^Patient"
    bits = attributes.pop("BitsStored", pixels.dtype.itemsize * 8)
    ds.set_pixel_data(pixels, interpretation, bits)
    for name, value in attributes.items():
        if value is None:
            delattr(ds, name)
        else:
            setattr(ds, name, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture
def dicom_writer():
    return write_dicom
