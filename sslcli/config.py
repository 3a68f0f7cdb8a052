"""Typed pretraining configuration, validated on construction and saved fully resolved."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import tomllib

from sslcli.errors import UserError

OPTIMIZERS = ("adamw", "sgd")
ON_ERROR = ("raise", "skip")
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_EPOCHS = 10
DEFAULT_BATCH_SIZE = 256


@dataclass
class PretrainConfig:
    """Everything a pretraining run depends on; ``None`` fields are filled from the domain's recipe."""

    domain: str = "natural"
    method: str = "simclr"
    data: str | None = None
    out: str = "runs/demo"
    epochs: int | None = None  # None: the domain recipe's, else DEFAULT_EPOCHS
    batch_size: int | None = None  # None: the domain recipe's, else DEFAULT_BATCH_SIZE
    lr: float | None = None  # None: 1e-3 * batch/256 for AdamW, 0.3 * batch/256 for SGD
    weight_decay: float = 1e-6
    optimizer: str = "adamw"
    warmup_epochs: float = 1.0
    accumulate: int = 1
    seed: int = 0
    device: str = "auto"
    on_error: str = "raise"
    num_workers: int = 2
    input_size: int | None = None
    backbone: str | None = None
    views: dict[str, Any] = field(default_factory=dict)
    method_options: dict[str, Any] = field(default_factory=dict)
    checkpoint_every: int = 100  # optimizer steps; a checkpoint is also written after every epoch
    log_every: int = 10

    def __post_init__(self) -> None:
        checks = [
            (self.epochs is None or self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (
                self.batch_size is None or self.batch_size >= 2,
                f"batch_size must be >= 2 (contrastive losses need pairs), got {self.batch_size}",
            ),
            (self.accumulate >= 1, f"accumulate must be >= 1, got {self.accumulate}"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}"),
            (self.on_error in ON_ERROR, f"on_error must be one of {', '.join(ON_ERROR)}"),
            (self.device in DEVICES, f"device must be one of {', '.join(DEVICES)}"),
            (self.lr is None or self.lr > 0, f"lr must be > 0, got {self.lr}"),
            (self.warmup_epochs >= 0, f"warmup_epochs must be >= 0, got {self.warmup_epochs}"),
            (self.num_workers >= 0, f"num_workers must be >= 0, got {self.num_workers}"),
            (self.checkpoint_every >= 1, f"checkpoint_every must be >= 1, got {self.checkpoint_every}"),
            (
                self.input_size is None or self.input_size >= 8,
                f"input_size must be >= 8, got {self.input_size}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise UserError(f"config: {message}")

    def resolved_lr(self) -> float:
        base = 1e-3 if self.optimizer == "adamw" else 0.3
        return self.lr if self.lr is not None else base * self.batch_size * self.accumulate / 256

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_config_file(path: Path) -> dict[str, Any]:
    """Options from a TOML or JSON file; unknown keys are an error naming them."""
    if not path.is_file():
        raise UserError(f"{path}: config file not found")
    try:
        text = path.read_text()
        values = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'JSON'} ({err})") from None
    known = {f.name for f in fields(PretrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise UserError(f"{path}: unknown config key(s) {', '.join(unknown)}")
    return values


def load_run_config(run_dir: Path) -> PretrainConfig:
    """The resolved config a run directory was trained with."""
    path = run_dir / "config.json"
    if not path.is_file():
        raise UserError(f"{run_dir}: not a run directory (no config.json)")
    try:
        values = json.loads(path.read_text())
        return PretrainConfig(**values["config"])
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise UserError(f"{path}: unreadable run config ({err})") from None
