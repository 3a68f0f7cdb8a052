"""Medical discovery: DICOM found by content, DICOMDIR folders, series split and ordering along the
slice normal, salted ids, and one reason for every kind of bad input."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate
from sslcli.domains import BadItemError
from sslcli.domains.medical.privacy import item_hash

from sslcli.errors import UserError
from sslcli.registry import DOMAINS


@pytest.fixture
def medical():
    return DOMAINS["medical"]()


def reasons_by_name(medical, folder) -> dict[str, str | None]:
    """File name -> the reason it is unusable (None: usable), from discovery and, if needed, decoding."""
    found: dict[str, str | None] = {}
    for item in medical.discover(folder):
        try:
            medical.load(item)["image"]
            found.setdefault(item.path.name, None)
        except BadItemError as err:
            found[item.path.name] = str(err)
    return found


def test_dicom_is_found_by_content_not_by_extension(medical, tmp_path, dicom_test_files):
    shutil.copy(dicom_test_files / "CT_small.dcm", tmp_path / "scan.txt")
    shutil.copy(dicom_test_files / "CT_small.dcm", tmp_path / "NOEXT")
    shutil.copy(dicom_test_files / "ExplVR_LitEndNoMeta.dcm", tmp_path / "old_no_preamble")
    (tmp_path / "notes.dcm").write_text("radiology notes, not DICOM\n")
    (tmp_path / "labels.csv").write_text("path,label\nscan.txt,a\n")
    found = reasons_by_name(medical, tmp_path)
    assert found == {
        "scan.txt": None,
        "NOEXT": None,
        "old_no_preamble": "no pixel data (RTPLAN object)",  # parsed with force: DICOM without File Meta
        "notes.dcm": "not a DICOM file",
    }


def test_dicomdir_folders_yield_every_image_and_name_the_index(medical, tmp_path, dicom_test_files):
    shutil.copytree(dicom_test_files / "dicomdirtests" / "77654033", tmp_path / "77654033")
    shutil.copy(dicom_test_files / "dicomdirtests" / "DICOMDIR", tmp_path / "DICOMDIR")
    items = medical.discover(tmp_path)
    usable = [item for item in items if item.problem is None]
    assert len(usable) == 7  # CR1-3 and four CT slices of this patient
    (index,) = [item for item in items if item.problem]
    assert index.path.name == "DICOMDIR" and "DICOMDIR index" in index.problem


def write_series(dicom_writer, folder, positions, orientation=(1, 0, 0, 0, 1, 0)):
    """One slice per position, instance numbers in writing order, each slice's value its write index."""
    for instance, position in enumerate(positions, start=1):
        dicom_writer(
            folder / f"slice{instance}",
            np.full((2, 2), instance, dtype=np.int16),
            ImagePositionPatient=list(position),
            ImageOrientationPatient=list(orientation),
            InstanceNumber=instance,
        )


def test_slices_are_ordered_along_the_normal_not_by_instance_number(medical, tmp_path, dicom_writer):
    # an oblique stack: the normal of rows (1,0,0) and columns (0,0.6,0.8) is (0,-0.8,0.6)
    normal = np.array([0.0, -0.8, 0.6])
    distances = [3.0, -6.0, 0.0, 9.0]
    write_series(dicom_writer, tmp_path, [d * normal + (5, 1, 2) for d in distances], (1, 0, 0, 0, 0.6, 0.8))
    items = medical.discover(tmp_path)
    assert [item.path.name for item in items] == ["slice2", "slice3", "slice1", "slice4"]
    assert items[1].neighbours == ((items[0].path, 0), (items[2].path, 0))


def test_a_series_with_two_orientations_is_split_without_loss(medical, tmp_path, dicom_writer):
    write_series(dicom_writer, tmp_path / "ax", [(0, 0, 2), (0, 0, 1)])
    write_series(dicom_writer, tmp_path / "cor", [(0, 2, 0), (0, 1, 0)], (1, 0, 0, 0, 0, -1))
    items = medical.discover(tmp_path)
    assert len(items) == 4 and all(item.problem is None for item in items)
    stacks = [{n[0].parent.name for n in item.neighbours if n} | {item.path.parent.name} for item in items]
    assert all(len(stack) == 1 for stack in stacks)  # neighbours never cross orientations


def test_ids_are_salted_hashes_and_map_back_with_the_salt(medical, tmp_path, dicom_test_files):
    shutil.copy(dicom_test_files / "CT_small.dcm", tmp_path / "Doe^John.dcm")
    shutil.copy(dicom_test_files / "rtdose.dcm", tmp_path / "dose.dcm")
    items = medical.discover(tmp_path)
    ct = [item for item in items if item.path.name == "Doe^John.dcm"]
    assert [item.item_id for item in ct] == [item_hash(medical.salt, "Doe^John.dcm")]
    dose = sorted(item.item_id for item in items if item.path.name == "dose.dcm")
    assert dose == sorted(f"{item_hash(medical.salt, 'dose.dcm')}:f{f}" for f in range(15))
    assert all(item.rel_path == item.item_id and "Doe" not in item.item_id for item in items)
    assert medical.describe_item(ct[0]) == f"DICOM item {ct[0].item_id}"


def bad_folder(tmp_path, dicom_test_files, dicom_writer):
    """One file per kind of bad input, named after it."""
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "text").write_text("not DICOM at all\n")
    (folder / "empty").write_bytes(b"")
    ct = (dicom_test_files / "CT_small.dcm").read_bytes()
    (folder / "truncated_header").write_bytes(ct[:1200])
    (folder / "truncated_pixels").write_bytes(ct[:-5000])
    shutil.copy(dicom_test_files / "rtplan.dcm", folder / "rt_plan")
    shutil.copy(dicom_test_files / "reportsi.dcm", folder / "structured_report")
    shutil.copy(dicom_test_files / "JPGExtended.dcm", folder / "jpeg_12bit")
    ds = pydicom.dcmread(dicom_test_files / "CT_small.dcm")
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: no decoder exists
    ds.PixelData = encapsulate([ds.PixelData])
    ds.save_as(folder / "mpeg2")
    shutil.copy(dicom_test_files / "badVR.dcm", folder / "malformed")
    write_series(dicom_writer, folder / "series", [(0, 0, 0), (0, 0, 1)])
    dicom_writer(
        folder / "series" / "inconsistent",
        np.zeros((2, 2), dtype=np.int16),
        ImageOrientationPatient=[1, 0, 0, 0, 1, 0],
    )
    return folder


BAD_REASONS = {
    "text": "not a DICOM file",
    "empty": "empty file (0 bytes)",
    "truncated_header": "truncated file",
    "truncated_pixels": "less than expected",
    "rt_plan": "no pixel data (RTPLAN object)",
    "structured_report": "no pixel data (SR object)",
    "jpeg_12bit": "12-bit JPEG Extended needs pylibjpeg-libjpeg",
    "mpeg2": "unsupported transfer syntax (MPEG2",
    "malformed": "malformed NumberOfFrames",
    "inconsistent": "inconsistent series",
}


@pytest.fixture
def folder_of_bad_files(tmp_path, dicom_test_files, dicom_writer):
    return bad_folder(tmp_path, dicom_test_files, dicom_writer)


def test_every_bad_input_has_its_reason(medical, folder_of_bad_files):
    found = reasons_by_name(medical, folder_of_bad_files)
    assert found.pop("slice1") is None and found.pop("slice2") is None
    assert found.keys() == BAD_REASONS.keys()
    for name, fragment in BAD_REASONS.items():
        assert fragment in found[name], (name, found[name])
        assert str(folder_of_bad_files) not in found[name]


def test_labels_come_from_labels_csv_folders_or_an_attribute(medical, tmp_path, dicom_test_files):
    from sslcli.data.labels import attach_labels

    shutil.copy(dicom_test_files / "rtdose.dcm", tmp_path / "dose.dcm")
    shutil.copy(dicom_test_files / "CT_small.dcm", tmp_path / "ct.dcm")
    items = [item for item in medical.discover(tmp_path) if item.problem is None]
    (tmp_path / "labels.csv").write_text("path,label\ndose.dcm,plan-a\n")
    by_csv = attach_labels(tmp_path, items)
    assert sorted(str(item.label) for item in by_csv) == ["None"] + ["plan-a"] * 15  # every frame
    by_attribute = attach_labels(tmp_path, items, medical, "Modality")
    assert sorted(item.label for item in by_attribute) == ["CT"] + ["RTDOSE"] * 15
    with pytest.raises(UserError, match="non-identifying"):
        attach_labels(tmp_path, items, medical, "PatientName")
    (tmp_path / "labels.csv").unlink()
    (tmp_path / "lungs").mkdir()
    shutil.copy(dicom_test_files / "CT_small.dcm", tmp_path / "lungs" / "scan.dcm")
    by_folder = attach_labels(tmp_path, medical.discover(tmp_path))
    assert {item.path.name: item.label for item in by_folder}["scan.dcm"] == "lungs"
