"""``encoder.safetensors``: the trained encoder, loadable without pickle by plain
``safetensors.torch.load_file``, with a SHA-256 of its tensors in the metadata so damage is caught."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from sslcli.engine.state_checks import one_line
from sslcli.errors import UserError
from sslcli.run_dir import atomic_write

ENCODER_CHECKSUM_KEY = "tensors_sha256"  # metadata key holding ``tensors_sha256`` of the tensors


def tensors_sha256(tensors: Mapping[str, torch.Tensor]) -> str:
    """Hex sha256 over the tensors in sorted name order: each name, dtype, shape and raw bytes."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        header = json.dumps([name, str(tensor.dtype), list(tensor.shape), tensor.nbytes])
        digest.update(header.encode() + b"\n")
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def save_encoder(path: Path, backbone: torch.nn.Module, metadata: dict[str, str]) -> None:
    """The backbone's weights as safetensors (plain ``safetensors.torch.load_file`` reads it), with
    :func:`tensors_sha256` under ``ENCODER_CHECKSUM_KEY`` in the metadata."""
    tensors = {name: t.detach().cpu().contiguous() for name, t in backbone.state_dict().items()}
    metadata = {**metadata, ENCODER_CHECKSUM_KEY: tensors_sha256(tensors)}

    def write(tmp: str) -> None:
        mode = stat.S_IMODE(os.stat(tmp).st_mode)  # what atomic_write chose for the file
        save_file(tensors, tmp, metadata=metadata)
        os.chmod(tmp, mode)  # save_file re-creates the file 0600

    atomic_write(path, write)


def read_encoder_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and metadata of an ``encoder.safetensors``, checksum verified when the file
    carries one (files written before the checksum existed load unverified)."""
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118 (not iterable)
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise UserError(f"{path}: unreadable encoder ({one_line(err)})") from None
    expected = metadata.get(ENCODER_CHECKSUM_KEY)
    if expected is not None and tensors_sha256(tensors) != expected:
        raise UserError(f"{path}: checksum mismatch (file damaged); pretrain again or restore a copy")
    return tensors, metadata


def first_non_finite(tensors: Mapping[str, torch.Tensor]) -> str | None:
    """The name of the first (in the mapping's order) floating tensor holding NaN or inf."""
    for name, tensor in tensors.items():
        if (tensor.is_floating_point() or tensor.is_complex()) and not torch.isfinite(tensor).all():
            return name
    return None
