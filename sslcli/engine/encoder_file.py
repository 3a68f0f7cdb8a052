"""``encoder.safetensors``: the trained encoder, loadable without pickle by plain
``safetensors.torch.load_file``, with a SHA-256 of its tensors in the metadata so damage is caught.

The checksum is required: a file without one, or with a metadata key sslcli never writes (a renamed
checksum key, say), is refused instead of being loaded unverified; ``sslcli sign`` adds the checksum
to a file the user vouches for. The header is written with sorted keys, so the same tensors and
metadata always give the same bytes (safetensors' own writer orders the metadata at random).
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from sslcli.engine.state_checks import one_line
from sslcli.errors import UserError, printable
from sslcli.run_dir import atomic_write

ENCODER_CHECKSUM_KEY = "tensors_sha256"  # metadata key holding ``tensors_sha256`` of the tensors
EXPORT_SIDECAR_KEY = "sslcli_export"  # ``sslcli export --format safetensors``: the sidecar's JSON
# every metadata key sslcli writes (the trainer's record, export's sidecar, the checksum)
ENCODER_METADATA_KEYS = frozenset(
    {"backbone", "input_size", "domain", "method", "feature_dim", "sslcli", "selection"}
    | {EXPORT_SIDECAR_KEY, ENCODER_CHECKSUM_KEY}
)
HEADER_ALIGNMENT = 8  # safetensors pads its JSON header with spaces to a multiple of 8 bytes


def tensors_sha256(tensors: Mapping[str, torch.Tensor]) -> str:
    """Hex sha256 over the tensors in sorted name order: each name, dtype, shape and raw bytes."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        header = json.dumps([name, str(tensor.dtype), list(tensor.shape), tensor.nbytes])
        digest.update(header.encode() + b"\n")
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def canonical_safetensors(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> bytes:
    """The safetensors bytes of ``tensors`` and ``metadata`` with the JSON header's keys sorted, so
    equal inputs give equal bytes (the data section is already laid out deterministically)."""
    raw = save(dict(tensors), metadata=dict(metadata))
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % HEADER_ALIGNMENT)
    return struct.pack("<Q", len(text)) + text + raw[8 + length :]


def save_encoder(path: Path, backbone: torch.nn.Module, metadata: dict[str, str]) -> None:
    """The backbone's weights as safetensors (plain ``safetensors.torch.load_file`` reads it), with
    :func:`tensors_sha256` under ``ENCODER_CHECKSUM_KEY`` in the metadata."""
    tensors = {name: t.detach().cpu().contiguous() for name, t in backbone.state_dict().items()}
    write_signed(path, tensors, metadata)


def write_signed(path: Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> None:
    """``tensors`` and ``metadata`` plus their checksum, written atomically in canonical bytes."""
    unknown = sorted(set(metadata) - ENCODER_METADATA_KEYS)
    if unknown:
        raise ValueError(f"encoder metadata keys {', '.join(unknown)} are not in ENCODER_METADATA_KEYS")
    payload = canonical_safetensors(tensors, {**metadata, ENCODER_CHECKSUM_KEY: tensors_sha256(tensors)})
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(payload))


def read_unverified(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and metadata of a safetensors file, as stored (nothing checked beyond the format)."""
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118 (not iterable)
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise UserError(f"{path}: unreadable encoder ({one_line(err)})") from None
    return tensors, metadata


def read_encoder_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and metadata of an ``encoder.safetensors``, checksum verified. A file without the
    checksum, or with metadata keys sslcli does not write, is refused: a renamed key must not switch
    the check off."""
    tensors, metadata = read_unverified(path)
    refuse_unknown_keys(path, metadata)
    expected = metadata.get(ENCODER_CHECKSUM_KEY)
    if expected is None:
        raise UserError(
            f"{path}: no checksum in its metadata (written before sslcli checked encoders, or altered); "
            f"if you trust the file, add one with: sslcli sign {path}"
        )
    if tensors_sha256(tensors) != expected:
        raise UserError(f"{path}: checksum mismatch (file damaged); pretrain again or restore a copy")
    return tensors, metadata


def refuse_unknown_keys(path: Path, metadata: Mapping[str, str]) -> None:
    unknown = sorted(set(metadata) - ENCODER_METADATA_KEYS)
    if unknown:
        shown = ", ".join(printable(repr(key)) for key in unknown[:3])
        raise UserError(f"{path}: unknown metadata key(s) {shown}: the file was altered; pretrain again")


def sign_encoder(path: Path) -> bool:
    """Add the checksum to an unsigned ``encoder.safetensors`` the user vouches for, in place; False
    when it already holds a valid one. A mismatching checksum or an unknown metadata key is refused
    (damage or tampering is never signed)."""
    tensors, metadata = read_unverified(path)
    refuse_unknown_keys(path, metadata)
    if ENCODER_CHECKSUM_KEY in metadata:
        read_encoder_tensors(path)
        return False
    write_signed(path, tensors, metadata)
    return True


def first_non_finite(tensors: Mapping[str, torch.Tensor]) -> str | None:
    """The name of the first (in the mapping's order) floating tensor holding NaN or inf."""
    for name, tensor in tensors.items():
        if (tensor.is_floating_point() or tensor.is_complex()) and not torch.isfinite(tensor).all():
            return name
    return None
