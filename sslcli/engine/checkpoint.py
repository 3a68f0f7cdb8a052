"""Atomic checkpoints (temp file + ``os.replace``) loaded without unpickling arbitrary objects."""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from sslcli.errors import UserError


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` then move the finished file over ``path`` in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; a damaged file is a one-line error."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as err:
        raise UserError(
            f"{path}: unreadable checkpoint ({type(err).__name__}: damaged or not a checkpoint)"
        ) from None


def save_encoder(path: Path, backbone: torch.nn.Module, metadata: dict[str, str]) -> None:
    """The backbone's weights as safetensors (plain ``safetensors.torch.load_file`` reads it)."""
    tensors = {name: t.detach().cpu().contiguous() for name, t in backbone.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
