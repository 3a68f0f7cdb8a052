"""Load a run's trained encoder (safetensors, no pickle) or its random-init twin."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from sslcli.config import PretrainConfig, load_run_config
from sslcli.errors import UserError
from sslcli.models import build_backbone


def random_init_encoder(config: PretrainConfig) -> torch.nn.Module:
    """The run's architecture with the initial weights pretraining started from (same seed)."""
    torch.manual_seed(config.seed)
    backbone, _ = build_backbone(config.backbone, config.input_size)
    return backbone.eval()


def load_encoder(run_dir: Path) -> tuple[torch.nn.Module, PretrainConfig, int]:
    """The trained backbone of ``run_dir`` in eval mode, its training config and its feature size."""
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: run directory not found")
    config = load_run_config(run_dir)
    path = run_dir / "encoder.safetensors"
    if not path.is_file():
        raise UserError(
            f"{run_dir}: no encoder.safetensors (is pretraining finished? resume it with --resume)"
        )
    backbone, feature_dim = build_backbone(config.backbone, config.input_size)
    try:
        backbone.load_state_dict(load_file(path))
    except (SafetensorError, RuntimeError, OSError) as err:
        raise UserError(f"{path}: unreadable encoder ({str(err).splitlines()[0]})") from None
    return backbone.eval(), config, feature_dim
