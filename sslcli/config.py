"""Typed pretraining configuration (pydantic, strict), validated before anything is written and
saved fully resolved in ``RUN_DIR/config.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import tomllib
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sslcli.errors import UserError

DEFAULT_EPOCHS = 10
DEFAULT_BATCH_SIZE = 256
# a CPU run without epochs from the user or the recipe trains this long (engine.time_budget plans it)
DEFAULT_CPU_BUDGET_S = 12 * 60.0
MAX_SEED = 2**63 - 1  # seeds are mixed with epoch and position, then reduced mod 2**63 (see data.py)
# Upper bounds: a number past one can only be a mistake (a typo, a unit mixed up), so it is refused on
# one line before the run directory exists, instead of ending in a traceback (an lr of 1e308 overflows
# SGD's update) or in a run that never ends.
MAX_LR = 10.0  # SGD's largest common lr is a few; a derived lr is capped here (resolved_lr)
MAX_WEIGHT_DECAY = 10.0  # common values are 1e-6 to 0.4
MAX_EPOCHS = 100_000  # also the most a --time-budget plans
MAX_TIME_BUDGET_S = 30 * 24 * 3600.0  # 30 days
MAX_BATCH_SIZE = 65_536  # items per step and process
MAX_ACCUMULATE = 1024
MAX_INPUT_SIZE = 4096  # pixels a side, or 10 ms audio frames (41 s)
MAX_WORKERS = 256  # data-loading processes
MAX_THREADS = 1024
MAX_LOG_EVERY_S = 24 * 3600.0

# Options a ``--resume`` may change (after a NaN stop, or to extend a finished run); the rest are fixed.
RESUMABLE_CHANGES = ("lr", "epochs", "log_every_s")


class PretrainConfig(BaseModel):
    """Everything a pretraining run depends on; ``None`` fields are filled from the domain's recipe.

    Strict types: ``batch_size 16.5``, ``epochs true`` or ``warmup_epochs inf`` are refused with the
    field named, never coerced.
    """

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, validate_assignment=True)

    domain: str = "natural"
    method: str = "simclr"
    data: str | None = None  # None: the built-in sample, or a private root (see the run's data_set)
    out: str = "runs/demo"
    # None: the recipe's, else a CPU time budget or DEFAULT_EPOCHS
    epochs: int | None = Field(None, ge=1, le=MAX_EPOCHS)
    # seconds the run may take: the epochs are planned from the measured step time (engine.time_budget)
    time_budget_s: float | None = Field(None, gt=0, le=MAX_TIME_BUDGET_S)
    # items per step and process (torchrun: the global batch is batch_size x processes); pairs needed.
    # None: the recipe's, else DEFAULT_BATCH_SIZE
    batch_size: int | None = Field(None, ge=2, le=MAX_BATCH_SIZE)
    # None: 1e-3 * global batch/256 (AdamW), 0.3 * .../256 (SGD); see resolved_lr
    lr: float | None = Field(None, gt=0, le=MAX_LR)
    weight_decay: float = Field(1e-6, ge=0, le=MAX_WEIGHT_DECAY)
    optimizer: Literal["adamw", "sgd"] = "adamw"
    # None: a share of the planned steps (engine.schedule.WARMUP_SHARE)
    warmup_epochs: float | None = Field(None, ge=0, le=MAX_EPOCHS)
    accumulate: int = Field(1, ge=1, le=MAX_ACCUMULATE)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    on_error: Literal["raise", "skip"] = "raise"
    sync_batchnorm: bool = False  # torchrun: batch-norm statistics over every rank's batch
    check_data: bool = False  # decode every file before step 1 (else bad files are met as training goes)
    num_workers: int = Field(2, ge=0, le=MAX_WORKERS)
    compile: bool = False  # torch.compile the encoder(s) the method trains
    # the training step's autocast; auto: bf16 where the device computes it natively (engine.acceleration)
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    # CPU intra-op threads: results depend on them (reduction order), so the count used is recorded.
    # None: torch's default (the machine's cores)
    threads: int | None = Field(None, ge=1, le=MAX_THREADS)
    input_size: int | None = Field(None, ge=8, le=MAX_INPUT_SIZE)
    backbone: str | None = None
    # weights the backbone starts from (engine.init_weights); a new run only: --resume keeps its checkpoint.
    # config.json keeps the file's name only (engine.run_record), never its path
    init: str | None = None
    views: dict[str, Any] = Field(default_factory=dict)
    method_options: dict[str, Any] = Field(default_factory=dict)
    # which weights become encoder.safetensors: the last, or the best by a label-free criterion
    # (engine.selection; the last weights are kept beside them). The last by default: on the tuning
    # sets every criterion kept an early epoch whose kNN was below the last's (BENCHMARKS.md)
    select: Literal["last", "rankme", "alpha-req", "lidar"] = "last"
    checkpoint_every: int = Field(100, ge=1)  # optimizer steps; a checkpoint is also written every epoch
    log_every: int = Field(10, ge=1)  # optimizer steps between rows of metrics.csv
    # seconds between progress lines where stderr is not a terminal (a log file, CI); a terminal redraws
    log_every_s: float = Field(30.0, gt=0, le=MAX_LOG_EVERY_S)
    # experiment trackers (sslcli.tracking): TensorBoard in RUN_DIR/tb/ by default; [] logs to none
    logger: list[Literal["tensorboard", "mlflow", "wandb"]] = Field(default_factory=lambda: ["tensorboard"])

    @classmethod
    def parse(cls, values: Any, source: str = "config") -> PretrainConfig:
        """Validate ``values`` (a mapping); every problem is reported on one line naming its field."""
        if not isinstance(values, dict):
            raise UserError(f"{source}: expected a table of config fields, got {type(values).__name__}")
        try:
            return cls.model_validate(values)
        except ValidationError as err:
            raise UserError(f"{source}: {describe_errors(err)}") from None

    def updated(self, **changes: Any) -> PretrainConfig:
        """A validated copy with ``changes`` applied."""
        return PretrainConfig.parse({**self.model_dump(), **changes})

    def resolved_lr(self, processes: int = 1) -> float:
        """The given lr, else one scaled linearly with the global batch (Goyal et al., 2017), at most
        ``MAX_LR`` (SGD's rule passes it from a global batch of 8534 on)."""
        base = 1e-3 if self.optimizer == "adamw" else 0.3
        global_batch = self.batch_size * self.accumulate * processes
        return self.lr if self.lr is not None else min(MAX_LR, base * global_batch / 256)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


def describe_errors(err: ValidationError, prefix: str = "") -> str:
    """``field: message (got VALUE)`` for each error, joined on one line; ``prefix`` names where the
    fields sit (e.g. ``method_options.``)."""
    parts = []
    for error in err.errors():
        field = prefix + ".".join(str(part) for part in error["loc"]) or "config"
        if error["type"] == "extra_forbidden":
            parts.append(f"unknown config key {field}")
            continue
        shown = repr(error["input"])
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        parts.append(f"{field}: {error['msg'].lower()} (got {shown})")
    return "; ".join(parts)


def read_config_file(path: Path) -> dict[str, Any]:
    """Options from a TOML or JSON file: a table of known keys (checked again when the config is built)."""
    if not path.is_file():
        raise UserError(f"{path}: config file not found")
    try:
        text = path.read_text()
        values = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'JSON'} ({err})") from None
    if not isinstance(values, dict):
        raise UserError(f"{path}: expected a table of config fields, got a JSON {type(values).__name__}")
    unknown = sorted(set(values) - set(PretrainConfig.model_fields))
    if unknown:
        raise UserError(f"{path}: unknown config key(s) {', '.join(unknown)}")
    return values


def load_run_config(run_dir: Path) -> PretrainConfig:
    """The resolved config a run directory was trained with."""
    path = run_dir / "config.json"
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: run directory not found")
    if not path.is_file():
        raise UserError(f"{run_dir}: not a run directory (no config.json)")
    try:
        values = json.loads(path.read_text())["config"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: unreadable run config ({type(err).__name__}: {err})") from None
    return PretrainConfig.parse(values, source=str(path))
