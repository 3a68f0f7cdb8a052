"""``pretrain --init``: start the backbone from weights on disk instead of a random init.

The file is a safetensors file (sslcli's own ``encoder.safetensors`` among them) or a torch state dict
(``.pt``/``.pth``/``.bin``, read with ``torch.load(weights_only=True)``: never unpickled code), e.g. a
timm or torchvision ResNet/ViT, or a checkpoint holding one (sslcli's ``checkpoints/last.pt`` too).
Keys are matched by name after common wrapper prefixes are stripped (``module.`` of DDP,
``backbone.``, ``encoder.``, ``model.``) and by shape; classifier heads and tensors whose shape
differs (torchvision's 7x7 stem vs the small-input 3x3 one) are skipped and named.
"""

from __future__ import annotations

import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from sslcli.data_root import file_problem
from sslcli.engine.state_checks import few, one_line, shape_text
from sslcli.errors import UserError

WRAPPER_PREFIXES = ("module.", "backbone.", "encoder.", "model.")
# checkpoints holding the state dict under one of these ("method": sslcli's checkpoints/last.pt)
NESTED_KEYS = ("state_dict", "model", "method")
HEAD_PREFIXES = ("fc.", "head.", "heads.", "classifier.")  # classification heads: never loaded


@dataclass
class InitReport:
    """What ``--init`` loaded: ``matched`` of the backbone's ``total`` tensors from file ``name``."""

    name: str
    matched: int
    total: int
    skipped: list[str] = field(default_factory=list)  # "key shape (file) vs (model)"
    unused: list[str] = field(default_factory=list)  # file tensors the backbone has no place for

    def note(self) -> str:
        """One line for stderr."""
        parts = [f"skipped: {few(self.skipped)}"] if self.skipped else []
        if self.unused:
            parts.append(f"unused in the file: {few(self.unused)}")
        detail = f" ({'; '.join(parts)})" if parts else ""
        return f"init: {self.matched}/{self.total} backbone tensors from {self.name}{detail}"

    def record(self) -> dict[str, Any]:
        """What config.json keeps (the file's name only, never its path)."""
        return {
            "file": self.name,
            "matched": self.matched,
            "total": self.total,
            "skipped": self.skipped,
            "unused": self.unused,
        }


def load_torch_file(path: Path) -> Any:
    """``torch.load(weights_only=True)`` of ``path``, without the warnings torch prints beside it (a pickle
    protocol other than 2, a TorchScript archive): what matters is in the errors ``read_tensors`` names."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(path, map_location="cpu", weights_only=True)


def unpickling_refusal(path: Path, err: pickle.UnpicklingError) -> UserError:
    """Why torch's weights-only unpickler refused ``path``, in one line."""
    text = str(err).lower()
    if "unsupported global" in text:  # torch's refusal to unpickle an object
        return UserError(
            f"--init {path}: holds pickled objects, not only tensors (a whole saved model?); "
            "sslcli never unpickles: save its state_dict() or use safetensors"
        )
    if "unsupported operand" in text:  # not a pickle, or pickle protocol 1, 4 or 5
        return UserError(
            f"--init {path}: unreadable weights (not a torch file, or saved with a pickle protocol torch's "
            "safe loader cannot read: save it with torch.save's default protocol, or as safetensors)"
        )
    return UserError(f"--init {path}: unreadable weights (not a torch or safetensors file)")


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file or of a torch state dict (unwrapped from ``NESTED_KEYS``)."""
    problem = file_problem(path, f"--init {path}")
    if problem:
        raise UserError(problem)
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        loaded = load_torch_file(path)
    except pickle.UnpicklingError as err:
        raise unpickling_refusal(path, err) from None
    except RuntimeError as err:
        if "torchscript" in str(err).lower():
            raise UserError(
                f"--init {path}: a TorchScript archive (an exported model), not weights; pass its run's "
                "encoder.safetensors"
            ) from None
        raise UserError(f"--init {path}: unreadable weights ({one_line(err)[:200]})") from None
    except (SafetensorError, OSError, ValueError, EOFError, KeyError) as err:
        reason = one_line(err)[:200] if not isinstance(err, KeyError) else "not a torch or safetensors file"
        raise UserError(f"--init {path}: unreadable weights ({reason})") from None
    while isinstance(loaded, dict) and any(isinstance(loaded.get(key), dict) for key in NESTED_KEYS):
        loaded = next(loaded[key] for key in NESTED_KEYS if isinstance(loaded.get(key), dict))
    if not isinstance(loaded, dict):
        raise UserError(f"--init {path}: holds a {type(loaded).__name__}, not a state dict")
    return {str(key): value for key, value in loaded.items() if isinstance(value, torch.Tensor)}


def model_key(key: str, expected: dict[str, torch.Tensor]) -> str:
    """``key`` with wrapper prefixes stripped until it names a tensor of ``expected`` (or none is left)."""
    while key not in expected and key.startswith(WRAPPER_PREFIXES):
        key = key.split(".", 1)[1]
    return key


def load_init(backbone: torch.nn.Module, path: Path) -> InitReport:
    """Copy the tensors of ``path`` that fit ``backbone`` by name and shape into it; stop with one line
    when none fits (surely the wrong file)."""
    expected = backbone.state_dict()
    matched: dict[str, torch.Tensor] = {}
    skipped, unused = [], []
    for key, tensor in read_tensors(path).items():
        name = model_key(key, expected)
        if name.startswith(HEAD_PREFIXES) or name not in expected:
            unused.append(key)
        elif tensor.shape != expected[name].shape:
            skipped.append(f"{name} shape {shape_text(tensor)} vs {shape_text(expected[name])}")
        else:
            matched.setdefault(name, tensor)
    if not matched:
        raise UserError(
            f"--init {path}: none of its {len(skipped) + len(unused)} tensors fits the backbone by name "
            f"and shape (the file's keys: {few(unused + skipped)}); is it the right file?"
        )
    backbone.load_state_dict({**expected, **matched})
    return InitReport(path.name, len(matched), len(expected), skipped, unused)
