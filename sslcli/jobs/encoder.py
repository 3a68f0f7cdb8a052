"""Open a finished run for a job (its config and its one bound domain), load its trained encoder
(safetensors, no pickle) or its random-init twin.

The file is verified before use (checksum, every key and shape, finite weights) so ``eval`` and
``embed`` stop with one line instead of a traceback or garbage embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from sslcli.config import PretrainConfig, load_run_config
from sslcli.domains import Domain
from sslcli.engine.domain_setup import bound_domain
from sslcli.engine.encoder_file import first_non_finite, read_encoder_tensors
from sslcli.engine.setup import build_run_encoder
from sslcli.engine.state_checks import one_line, state_dict_mismatch
from sslcli.errors import UserError
from sslcli.run_dir import ENCODER


@dataclass(frozen=True)
class TrainedRun:
    """A run directory a job reads: its resolved config and its domain, configured and bound once."""

    run_dir: Path
    config: PretrainConfig
    domain: Domain


def open_trained_run(run_dir: Path) -> TrainedRun:
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: run directory not found")
    config = load_run_config(run_dir)
    return TrainedRun(run_dir, config, bound_domain(config.domain, run_dir, config.views, create=False))


def pick_input(
    backbone: torch.nn.Module, feature_dim: int | dict[str, int], input_name: str | None, run: TrainedRun
) -> tuple[torch.nn.Module, int]:
    """The encoder of ``input_name`` and its feature size, from a run with one encoder per input; a run
    with one input has nothing to pick (``input_name`` may then only name that input)."""
    if not isinstance(backbone, torch.nn.ModuleDict):
        names = list(run.domain.inputs(run.config.input_size))
        if input_name not in (None, *names):
            raise UserError(f"--input {input_name}: the run's only input is {names[0]}")
        return backbone, feature_dim
    if input_name not in backbone:
        inputs = ", ".join(backbone)
        given = f"--input {input_name}: no such input" if input_name else "pick one with --input"
        raise UserError(f"the run has an encoder per input ({inputs}); {given}")
    return backbone[input_name], feature_dim[input_name]


def random_init_encoder(run: TrainedRun, input_name: str | None = None) -> torch.nn.Module:
    """The run's architecture with the initial weights pretraining started from (same seed)."""
    torch.manual_seed(run.config.seed)
    backbone, feature_dim = build_run_encoder(run.config, run.domain)
    return pick_input(backbone, feature_dim, input_name, run)[0].eval()


def trained_encoder(run: TrainedRun, input_name: str | None = None) -> tuple[torch.nn.Module, int]:
    """The trained backbone of ``run`` in eval mode (of ``input_name``, where the run has an encoder
    per input) and its feature size."""
    path = run.run_dir / ENCODER
    if not path.is_file():
        raise UserError(
            f"{run.run_dir}: no encoder.safetensors (is pretraining finished? resume it with --resume)"
        )
    config = run.config
    backbone, feature_dim = build_run_encoder(config, run.domain)
    tensors, _ = read_encoder_tensors(path)  # checksum verified
    problem = state_dict_mismatch(tensors, backbone.state_dict())
    if problem:
        raise UserError(f"{path}: encoder does not fit this run's {config.backbone} backbone ({problem})")
    bad = first_non_finite({name: tensors[name] for name in backbone.state_dict()})  # model order
    if bad is not None:
        raise UserError(
            f"{path}: non-finite weights (NaN or inf) in {bad}: the run diverged; "
            "pretrain again, e.g. with a lower --lr"
        )
    try:
        backbone.load_state_dict(tensors)
    except (RuntimeError, KeyError, TypeError, ValueError) as err:
        raise UserError(f"{path}: unreadable encoder ({one_line(err)})") from None
    backbone, feature_dim = pick_input(backbone, feature_dim, input_name, run)
    return backbone.eval(), feature_dim


def load_encoder(run_dir: Path, input_name: str | None = None) -> tuple[torch.nn.Module, PretrainConfig, int]:
    """The trained backbone of ``run_dir`` in eval mode, its training config and its feature size (for
    library use: a job opens the run once and calls ``trained_encoder``)."""
    run = open_trained_run(run_dir)
    encoder, feature_dim = trained_encoder(run, input_name)
    return encoder, run.config, feature_dim
