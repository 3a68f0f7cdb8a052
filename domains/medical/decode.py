"""Decode one frame of a DICOM file into modality values (Hounsfield units for CT) or RGB in [0, 1].

pydicom 3 decodes the frame (``pixel_array(path, index=i)`` reads only that frame, so multi-frame
files stay cheap in memory) with whichever plugin handles the transfer syntax: pydicom itself (native,
deflate, big endian, RLE), pylibjpeg/-openjpeg/-rle, pyjpegls and python-gdcm. The modality LUT
(PS3.3 C.11.1: rescale slope/intercept, or a Modality LUT Sequence) is taken from the frame's
functional groups in enhanced multi-frame objects (PS3.3 C.7.6.16.2.9, Pixel Value Transformation)
before the top-level attributes, which pydicom's ``apply_modality_lut`` alone would read.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels import apply_color_lut, apply_modality_lut, pixel_array
from sslcli.domains.discovery import BadItemError

COLOUR_INTERPRETATIONS = frozenset(
    {"RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420", "PALETTE COLOR"}
)


@dataclass
class Frame:
    """One decoded frame and what windowing needs to know about it."""

    values: np.ndarray  # (H, W) float32 modality values, or (H, W, 3) float32 RGB in [0, 1]
    colour: bool
    modality: str
    windows: list[tuple[float, float]]  # the file's own VOI windows (centre, width) for this frame
    voi_function: str  # LINEAR, LINEAR_EXACT or SIGMOID (PS3.3 C.11.2.1.3)
    invert: bool  # MONOCHROME1 or Presentation LUT Shape INVERSE: low values display white


@contextlib.contextmanager
def quiet_pydicom():
    """pydicom's warnings and log records can quote header values (names, dates): keep them unseen."""
    logger = logging.getLogger("pydicom")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def quiet_c_stderr():
    """The process's standard error (file descriptor 2) sent to the null device for the duration: GDCM's
    built-in OpenJPEG prints why it rejects a code stream there itself ("Invalid number of tiles ..."),
    beside the one-line reason the failure becomes."""
    try:
        sys.stderr.flush()  # what Python wrote before is shown, not lost
        saved = os.dup(2)
    except (AttributeError, OSError, ValueError):  # no standard error (None, closed): nothing to quiet
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def frame_group(header: Dataset, frame: int, sequence: str) -> Dataset | None:
    """The first item of ``sequence`` for ``frame``: per-frame functional group, else shared, else None."""
    for groups, index in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        items = header.get(groups)
        inner = items[index].get(sequence) if items is not None and len(items) > index else None
        if inner:
            return inner[0]
    return None


def rescale(header: Dataset, frame: int) -> tuple[float, float]:
    """(slope, intercept) of the frame's modality rescale (PS3.3 C.11.1.1.2); identity if absent."""
    source = frame_group(header, frame, "PixelValueTransformationSequence") or header
    slope, intercept = source.get("RescaleSlope"), source.get("RescaleIntercept")
    return (1.0 if slope is None else float(slope)), (0.0 if intercept is None else float(intercept))


def voi_windows(header: Dataset, frame: int) -> tuple[list[tuple[float, float]], str]:
    """The frame's VOI windows (PS3.3 C.11.2.1.2) from the Frame VOI LUT group or the top level."""
    source = frame_group(header, frame, "FrameVOILUTSequence") or header
    centres, widths = source.get("WindowCenter"), source.get("WindowWidth")
    function = str(source.get("VOILUTFunction", "LINEAR") or "LINEAR").upper()
    if centres is None or widths is None:
        return [], function
    centres = list(centres) if isinstance(centres, MultiValue) else [centres]
    widths = list(widths) if isinstance(widths, MultiValue) else [widths]
    pairs = [(float(c), float(w)) for c, w in zip(centres, widths, strict=False) if float(w) > 0]
    return pairs, function


def modality_values(pixels: np.ndarray, header: Dataset, frame: int) -> np.ndarray:
    """Stored values (H, W) -> modality values (H, W) float32, e.g. CT Hounsfield units."""
    if "ModalityLUTSequence" in header:  # a LUT table instead of a linear rescale (PS3.3 C.11.1)
        return np.asarray(apply_modality_lut(pixels, header), dtype=np.float32)
    slope, intercept = rescale(header, frame)
    return pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)  # (H, W)


def colour_values(pixels: np.ndarray, header: Dataset) -> np.ndarray:
    """RGB (pydicom already converted YBR to RGB) or palette indices (H, W) -> (H, W, 3) float32 in [0, 1]."""
    if header.PhotometricInterpretation == "PALETTE COLOR":
        rgb = apply_color_lut(pixels, header)  # (H, W, 3) uint8 or uint16, by the LUT's bit depth
        return (rgb.astype(np.float32) / np.iinfo(rgb.dtype).max).astype(np.float32)
    return pixels.astype(np.float32) / np.float32(2 ** int(header.BitsStored) - 1)


def decode_pixels(path: Path, frame: int) -> tuple[np.ndarray, Dataset]:
    """Frame ``frame`` as stored values, (H, W) or (H, W, samples), and the file's header."""
    header = dcmread(path, stop_before_pixels=True, force=True)
    try:
        return pixel_array(path, index=frame), header  # reads this frame's bytes only
    except Exception:  # deflated files, files without File Meta: decode from the parsed dataset instead
        dataset = dcmread(path, force=True)
        if "TransferSyntaxUID" not in dataset.file_meta:
            raise BadItemError("no Transfer Syntax UID in the file meta; cannot locate the pixels") from None
        return pixel_array(dataset, index=frame), header


def failure_reason(err: Exception, path: Path) -> str:
    """One line saying why decoding failed, without the file's path."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    # pydicom lists one line per decoder plugin after a headline; the first plugin's words are the useful part
    detail = lines[1] if len(lines) > 1 and lines[0].startswith("Unable to decode") else (lines or [""])[0]
    detail = detail.replace(str(path), "<file>").split(" - ")[0][:160]
    return f"pixel data cannot be decoded ({type(err).__name__}: {detail})"


def read_frame(path: Path, frame: int) -> Frame:
    """Decode frame ``frame`` of ``path``; every failure is a ``BadItemError`` with a path-free reason."""
    try:
        with quiet_pydicom(), quiet_c_stderr():
            pixels, header = decode_pixels(path, frame)
            interpretation = str(header.get("PhotometricInterpretation", "")).strip().upper()
            colour = interpretation in COLOUR_INTERPRETATIONS
            values = colour_values(pixels, header) if colour else modality_values(pixels, header, frame)
            windows, function = voi_windows(header, frame)
            inverse = str(header.get("PresentationLUTShape", "")).upper() == "INVERSE"
    except BadItemError:
        raise
    except Exception as err:  # third-party decoders raise many types; none may end the run
        raise BadItemError(failure_reason(err, path)) from None
    if values.ndim != (3 if colour else 2) or min(values.shape[:2]) < 1:
        raise BadItemError(f"unexpected decoded shape {tuple(values.shape)}")
    if not np.isfinite(values).all():
        raise BadItemError("pixel data holds NaN or infinite values")
    return Frame(
        values=values,
        colour=colour,
        modality=str(header.get("Modality", "") or "").upper(),
        windows=windows,
        voi_function=function,
        invert=not colour and (interpretation == "MONOCHROME1" or inverse),
    )
