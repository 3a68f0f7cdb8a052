"""Training checkpoints (``checkpoints/last.pt``), written atomically, loaded without unpickling.

Nothing read back is trusted: the zip ``torch.save`` writes has every member's CRC32 checked before
``torch.load(weights_only=True)``, then its structure, then every parameter's name and shape and the
optimizer state against the modules it is loaded into. Every failure is a one-line ``UserError``
naming the file.
"""

from __future__ import annotations

import dataclasses
import math
import pickle
import typing
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch

from sslcli.engine.state_checks import few, one_line, shape_text, state_dict_mismatch
from sslcli.errors import UserError
from sslcli.run_dir import atomic_write

#: Top-level entries of a training checkpoint (``Trainer.save``); ``rng_cuda`` only from CUDA runs.
CHECKPOINT_REQUIRED = ("method", "optimizer", "train_state", "rng_cpu")
CHECKPOINT_OPTIONAL = ("rng_cuda",)

S = TypeVar("S")


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def save_training_state(path: Path, method: torch.nn.Module, optimizer, state, device: torch.device) -> None:
    """The resumable state: the method's and optimizer's, the train state's fields and the random
    generators' (the CPU's, and the device's on CUDA)."""
    saved = {
        "method": method.state_dict(),
        "optimizer": optimizer.state_dict(),
        "train_state": vars(state).copy(),
        "rng_cpu": torch.get_rng_state(),
    }
    if device.type == "cuda":
        saved["rng_cuda"] = torch.cuda.get_rng_state(device)
    save_checkpoint(path, saved)


def check_processes(run_dir: Path, saved: int, now: int) -> None:
    """A run resumes with as many processes as trained it (its batches are split by rank)."""
    if saved != now:
        raise UserError(
            f"{run_dir}: the run was trained by {saved} process(es); resume it with as many "
            f"(torchrun --nnodes x --nproc_per_node = {saved}), not {now}"
        )


def verify_zip_integrity(path: Path) -> None:
    """Read every member of the zip ``torch.save`` wrote and check its CRC32 (a flipped byte in
    a tensor would otherwise load silently as a wrong weight)."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError) as err:
        raise UserError(
            f"{path}: unreadable checkpoint ({one_line(err)}: damaged or not a checkpoint)"
        ) from None
    except OSError as err:
        raise UserError(f"{path}: unreadable checkpoint ({err.strerror or one_line(err)})") from None
    if bad is not None:
        raise UserError(f"{path}: damaged checkpoint (CRC mismatch in member {bad})")


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True`` after checking its zip CRCs; a damaged file,
    or one whose top level is not a dict, is a one-line error."""
    verify_zip_integrity(path)
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as err:
        raise UserError(
            f"{path}: unreadable checkpoint ({type(err).__name__}: damaged or not a checkpoint)"
        ) from None
    if not isinstance(saved, dict):
        raise UserError(f"{path}: not a training checkpoint (holds a {type(saved).__name__}, not a dict)")
    return saved


def restore_training_state(
    path: Path,
    method: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    state_type: type[S],
) -> tuple[S, dict[str, torch.Tensor]]:
    """Check the training checkpoint at ``path`` completely, then load it into ``method`` and
    ``optimizer``; return the saved ``state_type`` instance and the RNG states.

    ``state_type`` is the dataclass the trainer saved as ``vars(state)`` (``TrainState``): every
    field must be present with its annotated type (``int`` fields: non-negative, not ``bool``;
    ``float`` fields: an int or float, NaN allowed, not infinite), and no other key. The RNG dict
    has ``"cpu"`` and, when the checkpoint came from a CUDA run, ``"cuda"``; apply it with
    :func:`apply_rng_state`. Nothing is modified unless every check passes (zip CRCs, structure,
    train state, RNG, every weight's name and shape, the optimizer's groups and per-parameter state
    shapes); any failure is ``UserError("{path}: ...")``.
    """
    saved = load_checkpoint(path)
    missing = [key for key in CHECKPOINT_REQUIRED if key not in saved]
    unexpected = [str(key) for key in saved if key not in (*CHECKPOINT_REQUIRED, *CHECKPOINT_OPTIONAL)]
    if missing or unexpected:
        parts = [f"missing {few(missing)}"] if missing else []
        parts += [f"unexpected {few(unexpected)}"] if unexpected else []
        raise UserError(f"{path}: not a training checkpoint of this version ({'; '.join(parts)})")
    state = _train_state(path, saved["train_state"], state_type)
    rng = _rng_states(path, saved)
    weights = saved["method"]
    if not isinstance(weights, Mapping):
        raise UserError(f"{path}: bad checkpoint: 'method' is a {type(weights).__name__}, not a state dict")
    # parameter shapes are fixed by the config; buffers may be sized at run time (DeepCluster's labels)
    # and are checked by the module's own ``load_state_dict`` below
    parameters = dict(method.named_parameters())
    expected = {key: value if key in parameters else None for key, value in method.state_dict().items()}
    problem = state_dict_mismatch(weights, expected)
    if problem:
        raise UserError(f"{path}: checkpoint does not fit this run's model: {problem}")
    _check_optimizer_state(path, saved["optimizer"], optimizer, method)
    try:
        method.load_state_dict(weights)
    except (RuntimeError, KeyError, TypeError, ValueError) as err:
        raise UserError(f"{path}: checkpoint does not fit this run's model: {one_line(err)}") from None
    try:
        optimizer.load_state_dict(saved["optimizer"])
    except (RuntimeError, KeyError, TypeError, ValueError, IndexError) as err:
        raise UserError(f"{path}: bad optimizer state: {one_line(err)}") from None
    return state, rng


def apply_rng_state(path: Path, rng: Mapping[str, torch.Tensor], device: torch.device) -> None:
    """Set the CPU generator (and, on a CUDA ``device``, its generator when the checkpoint has one)
    from :func:`restore_training_state`'s RNG dict; a state torch refuses is a one-line error."""
    try:
        torch.set_rng_state(rng["cpu"])
        if device.type == "cuda" and "cuda" in rng:
            torch.cuda.set_rng_state(rng["cuda"], device)
    except (RuntimeError, ValueError, TypeError) as err:
        raise UserError(f"{path}: bad RNG state: {one_line(err)}") from None


def _train_state(path: Path, values: Any, state_type: type[S]) -> S:
    if not isinstance(values, Mapping):
        raise UserError(f"{path}: bad checkpoint: 'train_state' is a {type(values).__name__}, not a dict")
    hints = typing.get_type_hints(state_type)
    names = [f.name for f in dataclasses.fields(state_type)]  # type: ignore[arg-type]
    later = getattr(state_type, "LATER_FIELDS", ())  # added since: older checkpoints take the default
    missing = [name for name in names if name not in values and name not in later]
    unexpected = [str(key) for key in values if key not in names]
    if missing or unexpected:
        parts = [f"missing {few(missing)}"] if missing else []
        parts += [f"unexpected {few(unexpected)}"] if unexpected else []
        raise UserError(f"{path}: bad train_state ({'; '.join(parts)})")
    names = [name for name in names if name in values]
    for name in names:
        value, kind = values[name], hints[name]
        if kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
            want = "a non-negative int"
        elif kind is float:  # NaN is allowed: a loss not yet computed is NaN
            ok = isinstance(value, int | float) and not isinstance(value, bool) and not math.isinf(value)
            want = "a float (not infinite)"
        else:
            ok, want = isinstance(value, kind), kind.__name__
        if not ok:
            raise UserError(f"{path}: bad train_state: {name} is {value!r}, expected {want}")
    return state_type(**{name: values[name] for name in names})


def _rng_states(path: Path, saved: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    rng = {"cpu": saved["rng_cpu"]}
    if "rng_cuda" in saved:
        rng["cuda"] = saved["rng_cuda"]
    cpu_size = torch.get_rng_state().numel()
    for name, value in rng.items():
        ok = isinstance(value, torch.Tensor) and value.dtype == torch.uint8 and value.dim() == 1
        if ok and name == "cpu":
            ok = value.numel() == cpu_size
        if not ok:
            what = (
                f"{value.dtype} tensor of shape {shape_text(value)}"
                if isinstance(value, torch.Tensor)
                else type(value).__name__
            )
            want = f"uint8 tensor of shape ({cpu_size},)" if name == "cpu" else "1-d uint8 tensor"
            raise UserError(f"{path}: bad RNG state: rng_{name} is a {what}, expected a {want}")
    return rng


def _check_optimizer_state(
    path: Path, saved: Any, optimizer: torch.optim.Optimizer, method: torch.nn.Module
) -> None:
    """Groups, parameter counts and every per-parameter state tensor's shape, checked before
    ``optimizer.load_state_dict`` (which checks group sizes only: a wrong-shaped moment buffer
    would load and fail later in ``step``)."""
    bad = f"{path}: bad optimizer state"
    if not isinstance(saved, Mapping) or not isinstance(saved.get("param_groups"), list):
        raise UserError(f"{bad}: expected a dict with 'state' and 'param_groups'")
    state = saved.get("state")
    if not isinstance(state, Mapping):
        raise UserError(f"{bad}: 'state' is a {type(state).__name__}, not a dict")
    groups = saved["param_groups"]
    if not all(isinstance(g, Mapping) and isinstance(g.get("params"), list) for g in groups):
        raise UserError(f"{bad}: every parameter group needs a 'params' list")
    saved_sizes = [len(g["params"]) for g in groups]
    sizes = [len(g["params"]) for g in optimizer.param_groups]
    if saved_sizes != sizes:
        raise UserError(
            f"{bad}: parameter groups of sizes {saved_sizes} in the file, {sizes} in this run's optimizer"
        )
    names = {id(p): name for name, p in method.named_parameters()}
    by_id: dict[Any, torch.Tensor] = {}
    for saved_group, group in zip(groups, optimizer.param_groups, strict=True):
        for index, param in zip(saved_group["params"], group["params"], strict=True):
            if not isinstance(index, int) or isinstance(index, bool) or index in by_id:
                raise UserError(f"{bad}: parameter ids must be distinct ints (got {index!r})")
            by_id[index] = param
    unknown = [str(key) for key in state if key not in by_id]
    if unknown:
        raise UserError(f"{bad}: state for unknown parameter ids {few(unknown)}")
    wrong = []
    for index, entry in state.items():
        if not isinstance(entry, Mapping):
            raise UserError(f"{bad}: state of parameter {index} is a {type(entry).__name__}, not a dict")
        param = by_id[index]
        for key, value in entry.items():
            if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape != param.shape:
                where = names.get(id(param), f"#{index}")
                wrong.append(f"{key} of {where} {shape_text(value)} vs parameter {shape_text(param)}")
    if wrong:
        raise UserError(f"{bad}: shape mismatch: {few(wrong)}")
