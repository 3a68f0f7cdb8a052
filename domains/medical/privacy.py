"""What the medical domain may write: salted ids and an allow-list of non-identifying attributes.

Nothing derived from a DICOM file leaves sslcli except (a) an item id, the keyed hash
HMAC-SHA256(salt, relative path) of its file (plus a frame number for multi-frame files), and
(b) the attributes in ``SAFE_ATTRIBUTES``. Names, patient IDs, dates, UIDs, institution, free-text
descriptions, private tags and file paths therefore never reach an index, log, error or checkpoint
(HIPAA Safe Harbor identifiers, 45 CFR 164.514(b)(2)). The salt is a random 32-byte key kept in the
run directory (``medical_salt``) so the data owner, and only they, can map an id back to a file with
``item_hash(salt, relative_path)``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from sslcli.domains.base import DomainError

SALT_FILE = "medical_salt"

# Attributes that describe the acquisition, never the patient, the visit or the site.
SAFE_ATTRIBUTES = (
    "Modality",
    "BodyPartExamined",
    "ViewPosition",
    "Laterality",
    "PhotometricInterpretation",
    "Rows",
    "Columns",
    "SamplesPerPixel",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "NumberOfFrames",
)


def run_salt(run_dir: Path, create: bool) -> bytes:
    """The run's salt; a new random one when ``create`` and none is saved yet (``save_salt`` keeps it)."""
    path = run_dir / SALT_FILE
    if path.is_file():
        try:
            salt = bytes.fromhex(path.read_text().strip())
        except (ValueError, UnicodeDecodeError):
            salt = b""
        if len(salt) != 32:
            raise DomainError(f"{path}: malformed salt (expected 64 hex digits)")
        return salt
    if not create:
        raise DomainError(f"{run_dir}: no {SALT_FILE} (the medical run's id salt); was it pretrained here?")
    return secrets.token_bytes(32)


def save_salt(run_dir: Path, salt: bytes) -> None:
    """Write ``salt`` with owner-only permissions unless the run already holds it."""
    path = run_dir / SALT_FILE
    if path.is_file():
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(salt.hex() + "\n")


def item_hash(salt: bytes, relative_path: str) -> str:
    """20 hex digits (80 bits) of HMAC-SHA256 keyed by the run's salt over the POSIX relative path."""
    return hmac.new(salt, relative_path.encode("utf-8"), hashlib.sha256).hexdigest()[:20]


def item_id(salt: bytes, relative_path: str, frame: int, frames: int) -> str:
    """``<hash>`` for a single-frame file, ``<hash>:f<frame>`` for frame ``frame`` of a multi-frame one."""
    base = item_hash(salt, relative_path)
    return base if frames == 1 else f"{base}:f{frame}"
