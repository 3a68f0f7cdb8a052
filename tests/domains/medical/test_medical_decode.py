"""Medical decoding and intensity: every transfer-syntax family against pydicom's own decode, HU and
window values in closed form, MONOCHROME1, colour, multi-frame, enhanced per-frame rescale, 2.5-D."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
import torch
from pydicom.pixels import apply_color_lut
from pydicom.sequence import Sequence

from sslcli.registry import DOMAINS


def window_units(values, centre, width):
    """PS3.3 C.11.2.1.2.1 linear window, written out, without the clip: 0..1 across the window."""
    return (np.asarray(values, dtype=np.float64) - (centre - 0.5)) / (width - 1) + 0.5


def percentile_units(values):
    low, high = np.percentile(values, [1, 99])
    return (values - low) / (high - low)


@pytest.fixture
def medical():
    return DOMAINS["medical"]()


def items_of(medical, folder):
    return [item for item in medical.discover(folder) if item.problem is None]


def load_only(medical, tmp_path, source, window="auto"):
    """Load the single image of ``source`` copied alone into a folder."""
    folder = tmp_path / source.stem
    folder.mkdir()
    shutil.copy(source, folder / "image")
    medical.configure(medical.Options(window=window))
    (item,) = items_of(medical, folder)
    return medical.load(item)["image"].numpy()


# (file, transfer syntax family): all MR_small variants hold the same 64x64 image.
MR_SMALL_VARIANTS = [
    ("MR_small.dcm", "explicit VR little endian"),
    ("MR_small_implicit.dcm", "implicit VR little endian"),
    ("MR_small_bigendian.dcm", "explicit VR big endian"),
    ("MR_small_RLE.dcm", "RLE lossless"),
    ("MR_small_jpeg_ls_lossless.dcm", "JPEG-LS lossless"),
    ("MR_small_jp2klossless.dcm", "JPEG 2000 lossless"),
]


@pytest.mark.parametrize(("name", "family"), MR_SMALL_VARIANTS)
def test_lossless_families_decode_to_the_uncompressed_image(
    medical, tmp_path, dicom_test_files, name, family
):
    reference = pydicom.dcmread(dicom_test_files / "MR_small.dcm").pixel_array.astype(np.float64)
    tensor = load_only(medical, tmp_path, dicom_test_files / name, window="percentile")
    assert tensor.shape == (3, 64, 64), family
    np.testing.assert_allclose(tensor[0], percentile_units(reference), atol=1e-5, err_msg=family)
    assert np.array_equal(tensor[0], tensor[2])


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("693_J2KI.dcm", "JPEG 2000 lossy, CT"),
        ("JPEGLSNearLossless_16.dcm", "JPEG-LS near-lossless, 16-bit"),
        ("image_dfl.dcm", "deflated explicit VR"),
        ("JPEG2000.dcm", "JPEG 2000, NM"),
    ],
)
def test_grey_families_match_pydicoms_decode(medical, tmp_path, dicom_test_files, name, family):
    ds = pydicom.dcmread(dicom_test_files / name)
    stored = ds.pixel_array.astype(np.float64)
    tensor = load_only(medical, tmp_path, dicom_test_files / name)
    if ds.get("Modality") == "CT":  # auto: HU through the wide -1000..1000 window
        hu = stored * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        expected = window_units(hu, 0.0, 2000.0)
    else:
        expected = percentile_units(stored)
    np.testing.assert_allclose(tensor[1], expected, atol=1e-4, err_msg=family)


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("SC_rgb_jpeg_dcmtk.dcm", "JPEG baseline, YBR_FULL"),
        ("SC_rgb_dcmtk_+eb+cy+np.dcm", "JPEG baseline, YBR_FULL_422"),
        ("SC_rgb_jpeg_gdcm.dcm", "JPEG lossless (process 14)"),
        ("SC_rgb_rle.dcm", "RLE, RGB"),
        ("SC_rgb_gdcm_KY.dcm", "JPEG 2000, RGB"),
        ("SC_rgb_jls_lossy_line.dcm", "JPEG-LS lossy, RGB"),
        ("ExplVR_BigEnd.dcm", "big endian RGB"),
        ("SC_ybr_full_422_uncompressed.dcm", "native YBR_FULL_422"),
        ("SC_rgb_rle_16bit.dcm", "RLE, 16-bit RGB"),
    ],
)
def test_colour_families_become_rgb_in_unit_range(medical, tmp_path, dicom_test_files, name, family):
    ds = pydicom.dcmread(dicom_test_files / name)
    rgb = ds.pixel_array.astype(np.float64) / (2**ds.BitsStored - 1)  # pydicom converts YBR to RGB
    tensor = load_only(medical, tmp_path, dicom_test_files / name)
    np.testing.assert_allclose(tensor, rgb.transpose(2, 0, 1), atol=1e-6, err_msg=family)


def test_palette_colour_is_expanded(medical, tmp_path, dicom_test_files):
    ds = pydicom.dcmread(dicom_test_files / "examples_palette.dcm")
    rgb = apply_color_lut(ds.pixel_array, ds)
    tensor = load_only(medical, tmp_path, dicom_test_files / "examples_palette.dcm")
    np.testing.assert_allclose(tensor, rgb.transpose(2, 0, 1) / 65535.0, atol=1e-6)


def test_ct_hounsfield_units_and_presets_in_closed_form(medical, tmp_path, dicom_writer):
    stored = np.array([[0, 1000], [2000, 3000]], dtype=np.uint16)
    hu = np.array([[-1024, -24], [976, 1976]], dtype=np.float64)  # intercept -1024, slope 1
    dicom_writer(tmp_path / "ct" / "a", stored, RescaleSlope=1, RescaleIntercept=-1024)
    medical.configure(medical.Options(window="lung"))
    (item,) = items_of(medical, tmp_path / "ct")
    tensor = medical.load(item)["image"].numpy()
    np.testing.assert_allclose(tensor[0], window_units(hu, -600, 1500), atol=1e-5)
    medical.configure(medical.Options(window="multi"))
    tensor = medical.load(item)["image"].numpy()
    for channel, (centre, width) in zip(tensor, [(-600, 1500), (40, 400), (400, 1800)], strict=True):
        np.testing.assert_allclose(channel, window_units(hu, centre, width), atol=1e-5)


def test_the_files_own_window_is_used_in_file_mode(medical, tmp_path, dicom_writer):
    stored = np.array([[-100, 0], [50, 300]], dtype=np.int16)
    dicom_writer(tmp_path / "f" / "a", stored, Modality="MR", WindowCenter=[100, 7], WindowWidth=[201, 9])
    medical.configure(medical.Options(window="file"))
    (item,) = items_of(medical, tmp_path / "f")
    np.testing.assert_allclose(
        medical.load(item)["image"].numpy()[0], window_units(stored, 100, 201), atol=1e-6
    )


def test_enhanced_multiframe_rescale_comes_from_per_frame_groups(medical, tmp_path, dicom_writer):
    stored = np.full((2, 2, 2), 1000, dtype=np.uint16)  # (F, H, W)
    groups = []
    for slope, intercept in [(1.0, -1000.0), (2.0, -500.0)]:  # HU 0 and 1500
        group, inner = pydicom.Dataset(), pydicom.Dataset()
        inner.RescaleSlope, inner.RescaleIntercept, inner.RescaleType = slope, intercept, "HU"
        group.PixelValueTransformationSequence = Sequence([inner])
        groups.append(group)
    dicom_writer(tmp_path / "e" / "a", stored, PerFrameFunctionalGroupsSequence=Sequence(groups))
    medical.configure(medical.Options(window="wide"))
    frames = sorted(items_of(medical, tmp_path / "e"), key=lambda item: item.frame)
    assert [item.frame for item in frames] == [0, 1]
    for item, hu in zip(frames, [0.0, 1500.0], strict=True):
        np.testing.assert_allclose(medical.load(item)["image"].numpy(), window_units(hu, 0, 2000), atol=1e-6)


def test_monochrome1_is_inverted_after_windowing(medical, tmp_path, dicom_test_files, dicom_writer):
    cr = dicom_test_files / "dicomdirtests" / "77654033" / "CR1" / "6154"
    ds = pydicom.dcmread(cr)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    tensor = load_only(medical, tmp_path, cr)
    np.testing.assert_allclose(tensor[0], 1 - percentile_units(ds.pixel_array.astype(np.float64)), atol=1e-5)
    pixels = np.array([[0, 500], [1000, 4095]], dtype=np.uint16)
    common = {"BitsStored": 12, "WindowCenter": 2048, "WindowWidth": 4096, "Modality": "CR"}
    dicom_writer(tmp_path / "m1" / "a", pixels, "MONOCHROME1", **common)
    dicom_writer(tmp_path / "m2" / "a", pixels, "MONOCHROME2", **common)
    medical.configure(medical.Options(window="file"))
    (inverted,) = items_of(medical, tmp_path / "m1")
    (plain,) = items_of(medical, tmp_path / "m2")
    np.testing.assert_allclose(
        medical.load(inverted)["image"].numpy()[0], 1 - window_units(pixels, 2048, 4096), atol=1e-6
    )
    np.testing.assert_allclose(
        medical.load(plain)["image"].numpy()[0], window_units(pixels, 2048, 4096), atol=1e-6
    )


@pytest.mark.parametrize(
    ("dtype", "bits", "values"),
    [
        (np.uint8, 8, [[0, 17], [128, 255]]),
        (np.uint16, 12, [[0, 100], [2048, 4095]]),
        (np.int16, 16, [[-32768, -5], [0, 32767]]),
    ],
)
def test_bit_depths_and_signedness(medical, tmp_path, dicom_writer, dtype, bits, values):
    pixels = np.array(values, dtype=dtype)
    dicom_writer(
        tmp_path / "d" / "a", pixels, BitsStored=bits, Modality="MR", WindowCenter=0, WindowWidth=8000
    )
    medical.configure(medical.Options(window="file"))
    (item,) = items_of(medical, tmp_path / "d")
    np.testing.assert_allclose(
        medical.load(item)["image"].numpy()[2], window_units(values, 0, 8000), atol=1e-6
    )


def test_multiframe_files_give_one_item_per_frame(medical, tmp_path, dicom_test_files):
    for name in ("rtdose.dcm", "examples_ybr_color.dcm"):
        shutil.copy(dicom_test_files / name, tmp_path / name)
    items = items_of(medical, tmp_path)
    dose = pydicom.dcmread(dicom_test_files / "rtdose.dcm").pixel_array.astype(np.float64)  # (15, 10, 10)
    cine = pydicom.dcmread(dicom_test_files / "examples_ybr_color.dcm").pixel_array / 255.0  # (30, H, W, 3)
    assert sorted(dict(item.attributes)["Modality"] for item in items) == ["RTDOSE"] * 15 + ["US"] * 30
    for item in items:
        tensor = medical.load(item)["image"].numpy()
        if dict(item.attributes)["Modality"] == "RTDOSE":
            np.testing.assert_allclose(tensor[0], percentile_units(dose[item.frame]), atol=1e-5)
        else:
            np.testing.assert_allclose(tensor, cine[item.frame].transpose(2, 0, 1), atol=1e-6)


def test_two_and_a_half_d_stacks_neighbouring_slices_in_position_order(medical, tmp_path, dicom_writer):
    # z positions 5, -5, 0 written with instance numbers 1, 2, 3: the true order is -5, 0, 5
    for instance, (z, value) in enumerate([(5.0, 300), (-5.0, 100), (0.0, 200)], start=1):
        pixels = np.full((4, 4), value, dtype=np.int16)
        dicom_writer(
            tmp_path / "s" / f"{instance}",
            pixels,
            ImagePositionPatient=[0, 0, z],
            ImageOrientationPatient=[1, 0, 0, 0, 1, 0],
            InstanceNumber=instance,
        )
    medical.configure(medical.Options(window="wide", sample="2.5d"))
    items = items_of(medical, tmp_path / "s")
    centres = [float(medical.load(item)["image"][1, 0, 0]) for item in items]
    expected = window_units(np.array([100, 200, 300], dtype=np.float64), 0, 2000)
    np.testing.assert_allclose(centres, expected, atol=1e-6)  # discovery order follows the normal
    first, middle, last = (medical.load(item)["image"].numpy()[:, 0, 0] for item in items)
    np.testing.assert_allclose(middle, expected, atol=1e-6)
    np.testing.assert_allclose(first, expected[[0, 0, 1]], atol=1e-6)  # the end slice repeats itself
    np.testing.assert_allclose(last, expected[[1, 2, 2]], atol=1e-6)


def test_canonical_tensor_is_float32_with_three_channels(medical, tmp_path, dicom_test_files):
    tensor = torch.from_numpy(load_only(medical, tmp_path, dicom_test_files / "CT_small.dcm"))
    assert tensor.dtype == torch.float32 and tensor.shape == (3, 128, 128)
