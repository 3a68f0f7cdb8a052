"""One training loop for every method: AMP, accumulation, warmup+cosine LR, checkpoints, resume."""

from __future__ import annotations

import contextlib
import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

import sslcli
from sslcli.config import PretrainConfig, load_run_config
from sslcli.data import Batch, SkipLog, ViewDataset, epoch_batches, make_loader, scan_items
from sslcli.engine.checkpoint import load_checkpoint, save_checkpoint, save_encoder
from sslcli.engine.metrics import MetricsLog
from sslcli.engine.schedule import warmup_cosine
from sslcli.engine.setup import RunPlan, build_method, lookup_domain, plan_run, resolve_device
from sslcli.errors import UserError
from sslcli.features import feature_batches
from sslcli.methods import Method
from sslcli.progress import item_progress, training_progress

CHECKPOINT_NAME = "checkpoints/last.pt"


class NonFiniteLossError(UserError):
    """The loss became NaN or infinite; the run stops before the optimizer step."""


@dataclass
class TrainState:
    step: int = 0  # optimizer steps done
    epoch: int = 0
    batch_in_epoch: int = 0  # micro-batches of ``epoch`` already consumed
    elapsed_s: float = 0.0
    last_loss: float = float("nan")
    items_seen: int = 0


@dataclass
class PretrainResult:
    run_dir: Path
    config: PretrainConfig
    state: TrainState
    items_found: int
    skipped: dict[str, str] = field(default_factory=dict)


def write_run_config(run_dir: Path, config: PretrainConfig) -> None:
    versions = {"sslcli": sslcli.__version__, "torch": torch.__version__, "python": platform.python_version()}
    payload = {"config": config.to_dict(), "versions": versions}
    (run_dir / "config.json").write_text(json.dumps(payload, indent=2) + "\n")


def open_run(config: PretrainConfig, resume: bool) -> RunPlan:
    """Plan a fresh run (refusing to overwrite one) or re-plan a run being resumed from its saved config."""
    run_dir = Path(config.out)
    if resume:
        if not (run_dir / CHECKPOINT_NAME).is_file():
            raise UserError(f"{run_dir}: nothing to resume (no {CHECKPOINT_NAME})")
        saved = load_run_config(run_dir)
        lookup_domain(saved.domain).bind_run(run_dir, saved.views, create=False)
        return plan_run(saved)
    if (run_dir / "config.json").exists():
        raise UserError(
            f"{run_dir}: already holds a run; pass --resume to continue it or choose another --out"
        )
    lookup_domain(config.domain).bind_run(run_dir, config.views, create=True)  # e.g. the id salt
    plan = plan_run(config)
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    write_run_config(run_dir, plan.config)
    return plan


class Trainer:
    """Runs ``plan`` to completion, writing everything into the run directory."""

    def __init__(self, plan: RunPlan, console, resume: bool):
        self.plan, self.config, self.console, self.resume = plan, plan.config, console, resume
        self.run_dir = Path(self.config.out)
        self.device = resolve_device(self.config.device)
        self.method: Method = build_method(self.config).to(self.device)
        self.optimizer = self._make_optimizer()
        self.state = TrainState()
        self.skips = SkipLog(self.config.on_error, plan.data_root)
        self.items = self._usable_items()
        try:
            view_fn = plan.domain.views(self.method.family, self.config.input_size, self.config.views)
        except (TypeError, ValueError) as err:
            raise UserError(f"view options: {err}") from None
        self.dataset = ViewDataset(plan.domain, self.items, view_fn, self.config.seed)
        micro_per_epoch = len(self.items) // self.config.batch_size
        self.steps_per_epoch = micro_per_epoch // self.config.accumulate
        if self.steps_per_epoch == 0:
            raise UserError(
                f"{plan.data_root}: {len(self.items)} usable items are fewer than one step of "
                f"batch size {self.config.batch_size} x accumulate {self.config.accumulate}; "
                "lower --batch-size"
            )
        self.total_steps = self.steps_per_epoch * self.config.epochs

    def _usable_items(self) -> list:
        """Items that decode: scanned once for a new run, read back from ``skipped.csv`` on resume."""
        skipped_csv = self.run_dir / "skipped.csv"
        if self.resume and skipped_csv.is_file():
            self.skips.read(skipped_csv)
            return [item for item in self.plan.items if item.item_id not in self.skips.records]
        with item_progress(self.console) as progress:
            items = scan_items(
                self.plan.domain, self.plan.items, self.skips, self.config.num_workers, progress
            )
        self.skips.write(skipped_csv)
        return items

    def _make_optimizer(self) -> torch.optim.Optimizer:
        params = [p for p in self.method.parameters() if p.requires_grad]
        if self.config.optimizer == "sgd":
            return torch.optim.SGD(
                params, lr=self.config.lr, momentum=0.9, weight_decay=self.config.weight_decay
            )
        return torch.optim.AdamW(params, lr=self.config.lr, weight_decay=self.config.weight_decay)

    # --- checkpoints -------------------------------------------------------------------------
    def save(self) -> None:
        state = {
            "method": self.method.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "train_state": vars(self.state).copy(),
            "rng_cpu": torch.get_rng_state(),
        }
        if self.device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state(self.device)
        save_checkpoint(self.run_dir / CHECKPOINT_NAME, state)

    def restore(self) -> None:
        saved = load_checkpoint(self.run_dir / CHECKPOINT_NAME)
        self.method.load_state_dict(saved["method"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.state = TrainState(**saved["train_state"])
        torch.set_rng_state(saved["rng_cpu"])
        if "rng_cuda" in saved and self.device.type == "cuda":
            torch.cuda.set_rng_state(saved["rng_cuda"], self.device)

    # --- the loop ----------------------------------------------------------------------------
    def autocast(self):
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def fit(self) -> PretrainResult:
        if self.resume:
            self.restore()
        metrics = MetricsLog(self.run_dir / "metrics.csv", self.state.step if self.resume else None)
        warmup = round(self.config.warmup_epochs * self.steps_per_epoch)
        accumulate = self.config.accumulate
        micro_per_epoch = self.steps_per_epoch * accumulate
        with training_progress(self.console) as progress:
            task = progress.add_task(
                "pretrain",
                total=self.total_steps,
                completed=self.state.step,
                loss=float("nan"),
                lr=0.0,
                rate=0.0,
            )
            while self.state.epoch < self.config.epochs:
                if self.state.batch_in_epoch == 0:
                    self.method.on_epoch_start(self.state.epoch, self._item_features)
                batches = self._epoch_batches()[self.state.batch_in_epoch : micro_per_epoch]
                loader = make_loader(
                    self.dataset, batches, self.config.num_workers, self.device.type == "cuda"
                )
                tick, items_since = time.perf_counter(), 0
                for batch in loader:
                    self.skips.add(batch.skipped)
                    self.state.batch_in_epoch += 1
                    if len(batch) >= 2:
                        self._forward_backward(batch, accumulate)
                        items_since += len(batch)
                    if self.state.batch_in_epoch % accumulate:
                        continue
                    lr = warmup_cosine(self.state.step, self.total_steps, warmup, self.config.lr)
                    self._optimizer_step(lr)
                    now = time.perf_counter()
                    rate = items_since / max(now - tick, 1e-9)
                    self.state.elapsed_s += now - tick
                    self.state.items_seen += items_since
                    tick, items_since = now, 0
                    progress.update(task, advance=1, loss=self.state.last_loss, lr=lr, rate=rate)
                    if self.state.step % self.config.log_every == 0 or self.state.step == self.total_steps:
                        metrics.append(
                            step=self.state.step,
                            epoch=self.state.epoch,
                            loss=self.state.last_loss,
                            lr=lr,
                            items_per_s=rate,
                            elapsed_s=self.state.elapsed_s,
                        )
                    if self.state.step % self.config.checkpoint_every == 0:
                        self.save()
                self.state.epoch += 1
                self.state.batch_in_epoch = 0
                self.save()
        return self._finish()

    def _epoch_batches(self) -> list[list[tuple[int, int]]]:
        config = self.config
        weights = self.method.sampling_weights()
        return epoch_batches(len(self.items), config.batch_size, config.seed, self.state.epoch, weights)

    def _item_features(self) -> torch.Tensor:
        """Pooled backbone features (N, F) of every training item (eval transform, eval mode), on CPU."""
        features = torch.zeros(len(self.items), self.method.feature_dim)
        batches = feature_batches(
            self.method.backbone,
            self.plan.domain,
            self.items,
            self.config.input_size,
            self.config.batch_size,
            self.device,
            self.skips,
            self.config.num_workers,
        )
        for positions, batch_features, _ in batches:
            features[positions] = batch_features
        self.method.train()
        return features

    def _forward_backward(self, batch: Batch, accumulate: int) -> None:
        views = [t.to(self.device, non_blocking=True) for t in batch.tensors]  # each (B, C, H, W)
        extra = [torch.tensor(batch.positions, device=self.device)] if self.method.wants_item_index else []
        with self.autocast():
            loss = self.method.training_step(views, *extra)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"step {self.state.step + 1}: loss is {loss.item()}; stopped before the optimizer step "
                f"(last checkpoint in {self.run_dir / 'checkpoints'}); try a lower --lr or a larger batch"
            )
        (loss / accumulate).backward()
        self.state.last_loss = loss.item()

    def _optimizer_step(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.step += 1
        self.method.on_train_step_end(self.state.step, self.total_steps)

    def _finish(self) -> PretrainResult:
        from sslcli.plots import plot_loss

        metadata = {
            "backbone": self.config.backbone,
            "input_size": str(self.config.input_size),
            "domain": self.config.domain,
            "method": self.config.method,
            "feature_dim": str(self.method.feature_dim),
            "sslcli": sslcli.__version__,
        }
        save_encoder(self.run_dir / "encoder.safetensors", self.method.backbone, metadata)
        self.method.on_train_end(self.run_dir)
        self.skips.write(self.run_dir / "skipped.csv")
        plot_loss(self.run_dir / "metrics.csv", self.run_dir / "plots" / "loss.png")
        return PretrainResult(
            self.run_dir, self.config, self.state, len(self.plan.items), dict(self.skips.records)
        )


def pretrain(config: PretrainConfig, resume: bool, console) -> PretrainResult:
    return Trainer(open_run(config, resume), console, resume).fit()
