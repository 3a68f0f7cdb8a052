"""Find DICOM files by content, group them into series and order the slices.

A file is DICOM if it carries the ``DICM`` magic after its 128-byte preamble (PS3.10 7.1), or, as
a fallback for old files without File Meta, if pydicom parses it with ``force=True`` into a data set
holding at least one core attribute. Extensions are ignored; DICOMDIR index files are reported and
the files they list are found by the same folder walk.

Series: files sharing (Study Instance UID, Series Instance UID) are split into stacks of equal
echo and geometry (Echo Numbers, rows, columns, samples, Image Orientation Patient), since one
series may hold localisers at three orientations or several echoes at the same positions. Slices
of a stack are ordered by their position along the slice normal,
ImagePositionPatient . (row cosine x column cosine) (PS3.3 C.7.6.2.1.1), not by Instance Number,
which scanners number in either direction. A multi-frame file is a stack of its own, in frame order.
Every unusable file becomes one item whose ``problem`` says why, so counts add up.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels.decoders.base import get_decoder
from pydicom.uid import JPEGExtended12Bit
from sslcli.domains.base import Item
from sslcli.domains.discovery import discover_files
from sslcli.domains.medical.decode import quiet_pydicom
from sslcli.domains.medical.privacy import SAFE_ATTRIBUTES, item_id

CORE_ATTRIBUTES = ("SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID", "Modality", "PixelData")
PIXEL_MODULE = ("Rows", "Columns", "BitsAllocated", "SamplesPerPixel", "PhotometricInterpretation")
UNDEFINED_LENGTH = 0xFFFFFFFF
PIXEL_TAGS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")

Slice = tuple[Path, int]  # (file, frame)


@dataclass(frozen=True)
class DicomItem(Item):
    """One frame of one DICOM file. ``rel_path`` is the salted id, never a path."""

    frame: int = 0
    neighbours: tuple[Slice | None, Slice | None] = (None, None)  # previous / next slice of its stack
    attributes: tuple[tuple[str, str], ...] = ()  # SAFE_ATTRIBUTES only


@dataclass
class Header:
    """What discovery keeps of one readable image file (in memory only)."""

    path: Path
    rel: str
    frames: int
    stack_key: tuple
    position: float | None  # along the slice normal, mm
    instance: int
    attributes: tuple[tuple[str, str], ...]


def has_dicm_magic(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(132)
    return len(head) == 132 and head[128:] == b"DICM"


def read_header(path: Path) -> tuple[Dataset | None, str | None]:
    """(header, None) for a DICOM file, (None, reason) otherwise. Pixel data is not loaded."""
    if path.stat().st_size == 0:
        return None, "empty file (0 bytes)"
    magic = has_dicm_magic(path)
    try:
        with quiet_pydicom():
            header = dcmread(path, force=True, defer_size=256)
            present = [name for name in CORE_ATTRIBUTES if name in header]
    except Exception:  # pydicom raises many types on garbage; the reason is what matters
        return None, "unreadable DICOM header (truncated or malformed)" if magic else "not a DICOM file"
    if not magic and not present:
        return None, "not a DICOM file"
    cut = truncation(header, path.stat().st_size)
    if cut:
        return None, cut
    return header, None


def truncation(header: Dataset, size: int) -> str | None:
    """pydicom reads a cut-off file silently; its last element then ends past the end of the file."""
    if not len(header):
        return "truncated file (no data set after the file meta)"
    last = header.get_item(max(header.keys()))
    if not hasattr(last, "value_tell") or last.length == UNDEFINED_LENGTH:  # converted, or delimited
        return None
    # a deferred value (None) was only located, not read: compare its end with the file's
    short = last.value_tell + last.length > size if last.value is None else len(last.value) < last.length
    name = keyword_for_tag(last.tag) or "a private element"
    return f"truncated file ({name} is cut short)" if short else None


def decoder_problem(header: Dataset) -> str | None:
    """Why no installed plugin can decode this file's transfer syntax, or None."""
    meta = getattr(header, "file_meta", None)
    syntax = None if meta is None else meta.get("TransferSyntaxUID")
    if syntax is None:
        return "no Transfer Syntax UID in the file meta"
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        return f"unsupported transfer syntax ({syntax.name})"
    if not decoder.is_available:
        return f"no installed decoder for {syntax.name}"
    bits = int(header.get("BitsStored", 8) or 8)
    if syntax == JPEGExtended12Bit and bits > 8 and "pylibjpeg" not in decoder.available_plugins:
        return "12-bit JPEG Extended needs pylibjpeg-libjpeg (GPL-3.0), which sslcli does not install"
    return None


def header_problem(header: Dataset) -> str | None:
    """Why a parsed DICOM file has no usable image, or None."""
    if "DirectoryRecordSequence" in header:
        return "DICOMDIR index (no image; the files it lists are read from the folder)"
    if not any(tag in header for tag in PIXEL_TAGS):
        kind = str(header.get("Modality", "") or "") or "non-image"
        return f"no pixel data ({kind} object)"
    missing = [name for name in PIXEL_MODULE if name not in header]
    if missing:
        return f"incomplete image pixel description (missing {', '.join(missing)})"
    return decoder_problem(header)


def number_list(header: Dataset, name: str, size: int) -> list[float] | None:
    """``name`` as ``size`` finite floats; None if absent; ValueError if malformed."""
    value = header.get(name)
    if value is None:
        return None
    try:
        numbers = [float(v) for v in (value if isinstance(value, MultiValue | list) else [value])]
    except (TypeError, ValueError):
        raise ValueError(name) from None
    if len(numbers) != size or not all(math.isfinite(v) for v in numbers):
        raise ValueError(name)
    return numbers


def whole_number(header: Dataset, name: str) -> int:
    """An integer attribute (1 if absent); ValueError naming it if malformed."""
    try:
        value = header.get(name)
        return 1 if value in (None, "") else int(value)
    except (TypeError, ValueError):
        raise ValueError(name) from None


def geometry(header: Dataset) -> tuple[tuple | None, float | None]:
    """(rounded orientation, position along the slice normal) of a single-frame image."""
    orientation = number_list(header, "ImageOrientationPatient", 6)
    position = number_list(header, "ImagePositionPatient", 3)
    if orientation is None:
        return None, None
    normal = np.cross(orientation[:3], orientation[3:])  # (3,) slice normal
    if np.linalg.norm(normal) < 1e-6:  # parallel or zero direction cosines
        raise ValueError("ImageOrientationPatient")
    along = None if position is None else float(np.dot(position, normal / np.linalg.norm(normal)))
    return tuple(round(v, 4) for v in orientation), along


def safe_attributes(header: Dataset) -> tuple[tuple[str, str], ...]:
    present = [(name, header.get(name)) for name in SAFE_ATTRIBUTES]
    return tuple((name, str(value)) for name, value in present if value not in (None, ""))


def describe(header: Dataset, path: Path, rel: str) -> Header | str:
    """A usable image file's ``Header`` or the reason it is not usable."""
    problem = header_problem(header)
    if problem:
        return problem
    try:
        frames, rows, columns, samples = (
            whole_number(header, name) for name in ("NumberOfFrames", "Rows", "Columns", "SamplesPerPixel")
        )
        orientation, position = geometry(header) if frames == 1 else (None, None)
    except ValueError as err:
        return f"malformed {err} attribute"
    if frames < 1 or rows < 1 or columns < 1:
        return f"empty image ({rows} x {columns}, {frames} frames)"
    series = (str(header.get("StudyInstanceUID", "")), str(header.get("SeriesInstanceUID", "")))
    alone = frames > 1 or not series[1]
    echo = str(header.get("EchoNumbers", "") or "")  # multi-echo MR: one stack per echo
    key = (*series, echo, rows, columns, samples, orientation, rel if alone else "")
    instance = header.get("InstanceNumber")
    return Header(
        path,
        rel,
        frames,
        key,
        position,
        int(instance) if str(instance or "").strip().lstrip("-").isdigit() else 0,
        safe_attributes(header),
    )


def order_stack(members: list[Header], salt: bytes) -> tuple[list[Header], list[Header]]:
    """(ordered slices, slices that cannot be placed): by position along the normal when the stack has
    positions, else by Instance Number; a slice without a position in a positioned stack is inconsistent."""
    tie = {m.rel: item_id(salt, m.rel, 0, 1) for m in members}
    placed = [m for m in members if m.position is not None]
    if placed and len(placed) < len(members):
        return sorted(placed, key=lambda m: (m.position, m.instance, tie[m.rel])), [
            m for m in members if m.position is None
        ]
    if placed:
        return sorted(members, key=lambda m: (m.position, m.instance, tie[m.rel])), []
    return sorted(members, key=lambda m: (m.instance, tie[m.rel])), []


def stack_items(stack: list[Header], salt: bytes) -> list[DicomItem]:
    """One item per frame (multi-frame file) or per file (single-frame stack), with 2.5-D neighbours."""
    slices: list[tuple[Header, int]] = [(h, f) for h in stack for f in range(h.frames)]
    items = []
    for i, (header, frame) in enumerate(slices):
        before = (slices[i - 1][0].path, slices[i - 1][1]) if i > 0 else None
        after = (slices[i + 1][0].path, slices[i + 1][1]) if i + 1 < len(slices) else None
        ident = item_id(salt, header.rel, frame, header.frames)
        attributes = header.attributes + ((("Frame", str(frame)),) if header.frames > 1 else ())
        items.append(DicomItem(ident, header.path, ident, None, frame, (before, after), attributes))
    return items


def problem_item(salt: bytes, path: Path, rel: str, reason: str) -> DicomItem:
    ident = item_id(salt, rel, 0, 1)
    return DicomItem(ident, path, ident, problem=reason)


def discover_dicom(root: Path, salt: bytes) -> list[DicomItem]:
    """Every entry under ``root`` but folders and ``labels.csv`` as items: usable frames ordered by
    stack, then one item per unusable file (broken links, FIFOs and devices included). Stacks are
    ordered by their first item's id (never by path)."""
    stacks: dict[tuple, list[Header]] = defaultdict(list)
    bad: list[DicomItem] = []
    for entry in discover_files(root):
        path, rel = entry.path, entry.rel
        if rel == "labels.csv" or entry.folder:  # folders are not candidates here
            continue
        if entry.problem:  # known from stat, before anything is opened (a FIFO would block)
            bad.append(problem_item(salt, path, rel, entry.problem))
            continue
        try:
            header, reason = read_header(path)
        except OSError as err:  # unreadable (permissions, I/O error); strerror never holds the path
            header, reason = None, f"cannot read file ({err.strerror or type(err).__name__})"
        try:
            with quiet_pydicom():
                found = describe(header, path, rel) if header is not None else reason
        except Exception:  # a value that only fails when pydicom converts it
            found = "malformed DICOM header attributes"
        if isinstance(found, str):
            bad.append(problem_item(salt, path, rel, found))
        else:
            stacks[found.stack_key].append(found)
    ordered: list[list[DicomItem]] = []
    for members in stacks.values():
        placed, unplaced = order_stack(members, salt)
        ordered.append(stack_items(placed, salt))
        reason = "inconsistent series: slice has no ImagePositionPatient while the rest of its series has"
        bad += [problem_item(salt, m.path, m.rel, reason) for m in unplaced]
    ordered.sort(key=lambda items: items[0].item_id)
    return [item for items in ordered for item in items] + sorted(bad, key=lambda item: item.item_id)
