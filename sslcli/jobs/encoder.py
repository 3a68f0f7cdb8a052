"""Load a run's trained encoder (safetensors, no pickle) or its random-init twin.

The file is verified before use (checksum, every key and shape, finite weights) so ``eval`` and
``embed`` stop with one line instead of a traceback or garbage embeddings.
"""

from __future__ import annotations

from pathlib import Path

import torch

from sslcli.config import PretrainConfig, load_run_config
from sslcli.engine.encoder_file import first_non_finite, read_encoder_tensors
from sslcli.engine.setup import build_encoder
from sslcli.engine.state_checks import one_line, state_dict_mismatch
from sslcli.errors import UserError
from sslcli.run_dir import ENCODER


def random_init_encoder(config: PretrainConfig) -> torch.nn.Module:
    """The run's architecture with the initial weights pretraining started from (same seed)."""
    torch.manual_seed(config.seed)
    backbone, _ = build_encoder(config)
    return backbone.eval()


def load_encoder(run_dir: Path) -> tuple[torch.nn.Module, PretrainConfig, int]:
    """The trained backbone of ``run_dir`` in eval mode, its training config and its feature size."""
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: run directory not found")
    config = load_run_config(run_dir)
    path = run_dir / ENCODER
    if not path.is_file():
        raise UserError(
            f"{run_dir}: no encoder.safetensors (is pretraining finished? resume it with --resume)"
        )
    backbone, feature_dim = build_encoder(config)
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
    return backbone.eval(), config, feature_dim
