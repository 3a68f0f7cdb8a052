"""One training loop for every method: AMP, accumulation, warmup+cosine LR, checkpoints, resume."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

import sslcli
from sslcli.config import PretrainConfig
from sslcli.data.datasets import ViewDataset, scan_items
from sslcli.data.loader import Batch, epoch_batches, make_loader
from sslcli.data.skips import SkipLog
from sslcli.engine.checkpoint import apply_rng_state, restore_training_state, save_checkpoint
from sslcli.engine.encoder_file import save_encoder
from sslcli.engine.features import feature_batches
from sslcli.engine.metrics import MetricsLog
from sslcli.engine.opening import OpenedRun, ResumeRequest, open_run
from sslcli.engine.run_record import write_run_record
from sslcli.engine.schedule import warmup_cosine
from sslcli.engine.setup import (
    build_method,
    describe_root,
    resolve_device,
)
from sslcli.errors import UserError
from sslcli.methods import Method, StepContext
from sslcli.reporting.progress import item_progress, training_progress
from sslcli.run_dir import (
    CHECKPOINT,
    ENCODER,
    METRICS,
    PLOTS,
    SKIPPED,
    clean_temp_files,
    exclusive,
)

MIN_BATCH = 2  # the fewest items per step any method can learn from (pairs, batch statistics)


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
    data_source: str
    skipped: dict[str, str] = field(default_factory=dict)


class Trainer:
    """Runs a plan to completion, writing everything into the run directory."""

    def __init__(self, opened: OpenedRun, console):
        self.opened, self.plan, self.console = opened, opened.plan, console
        self.resume = opened.resume_from_checkpoint
        self.config = self.plan.config
        self.run_dir = Path(self.config.out)
        self.device = resolve_device(self.config.device)
        self.method: Method = build_method(self.config).to(self.device)
        self.state = TrainState()
        self.last_logs: dict[str, float] = {name: float("nan") for name in self.method.log_names}
        self.skips = SkipLog(self.config.on_error, self.plan.data_root)
        self.items = self._usable_items()
        if not self.resume:
            self._fit_batch_to_data()
        self.optimizer = self._make_optimizer()
        try:
            view_fn = self.plan.domain.views(self.method.family, self.config.input_size, self.config.views)
        except (TypeError, ValueError) as err:
            raise UserError(f"view options: {err}") from None
        self.dataset = ViewDataset(self.plan.domain, self.items, view_fn, self.config.seed)
        micro_per_epoch = len(self.items) // self.config.batch_size
        self.steps_per_epoch = micro_per_epoch // self.config.accumulate
        if self.steps_per_epoch == 0:
            raise UserError(
                f"{describe_root(self.plan.domain, self.plan.data_root)}: {len(self.items)} usable items are "
                f"fewer than one step of batch size {self.config.batch_size} x accumulate "
                f"{self.config.accumulate}"
            )
        self.total_steps = self.steps_per_epoch * self.config.epochs

    def _usable_items(self) -> list:
        """The items training draws from.

        By default every item found: a bad file is met when a batch decodes it (``raise`` stops with
        it named, ``skip`` drops it from that batch and lists it). With ``check_data`` every file is
        decoded first and only the usable ones are kept (on resume, read back from ``skipped.csv``).
        Either way the list is fixed for the run, so a resumed epoch replays the same order.
        """
        skipped_csv = self.run_dir / SKIPPED
        same_data = self.opened.record.get("data_set") == self.plan.data_set
        if self.resume and same_data and skipped_csv.is_file():
            self.skips.read(skipped_csv)
            if self.config.check_data:
                return [item for item in self.plan.items if item.item_id not in self.skips.records]
        if not self.config.check_data:
            return list(self.plan.items)
        with item_progress(self.console) as progress:
            return scan_items(
                self.plan.domain, self.plan.items, self.skips, self.config.num_workers, progress
            )

    def _fit_batch_to_data(self) -> None:
        """Lower the batch to what a small folder holds (noted); refuse fewer than ``MIN_BATCH`` per step."""
        config, usable = self.config, len(self.items)
        fits = usable // config.accumulate
        if fits >= config.batch_size:
            return
        if fits < MIN_BATCH:
            raise UserError(
                f"{describe_root(self.plan.domain, self.plan.data_root)}: {usable} usable item(s); "
                f"{config.method} needs at least {MIN_BATCH * config.accumulate} "
                f"({MIN_BATCH} per step x accumulate {config.accumulate})"
            )
        lr = None if self.plan.lr_scales_with_batch else config.lr
        lowered = config.updated(batch_size=fits, lr=lr)
        self.config = self.plan.config = lowered.updated(lr=lowered.resolved_lr())
        self.opened.notes.append(
            f"{usable} usable items are fewer than batch size {config.batch_size} x accumulate "
            f"{config.accumulate}; using batch size {fits}"
            + (f" (lr {self.config.lr:.3g}, scaled with the batch)" if lr is None else "")
        )

    def start(self) -> None:
        """Write what the run starts from: its config and data set, the domain's run state, the skip list."""
        for note in self.opened.notes:
            self.console.print(f"note: {note}")
        record = self.opened.record
        resumes = list(record.get("resumes", []))
        if record:  # a resume: when, and what it changed
            resumes.append({"at_step": self.state.step, "notes": self.opened.notes})
        # config.json first: once it exists the folder is a run that the same command restarts, so a
        # failure (a full disk) in any write after it still leaves a folder that recovers
        write_run_record(self.run_dir, self.config, self.plan.data_set, resumes)
        self.plan.domain.save_run_state(self.run_dir)
        (self.run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        self.skips.write(self.run_dir / SKIPPED)

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
        save_checkpoint(self.run_dir / CHECKPOINT, state)
        self.skips.write(self.run_dir / SKIPPED)  # the bad files met so far, for the summary on resume

    def restore(self) -> None:
        """Load the verified checkpoint (see ``restore_training_state``) into the method and optimizer."""
        path = self.run_dir / CHECKPOINT
        self.state, rng = restore_training_state(path, self.method, self.optimizer, TrainState)
        if self.state.epoch > self.config.epochs:
            raise UserError(
                f"{self.run_dir}: --epochs {self.config.epochs} is fewer than the {self.state.epoch} "
                "epochs already trained"
            )
        apply_rng_state(path, rng, self.device)

    # --- the loop ----------------------------------------------------------------------------
    def autocast(self):
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def fit(self) -> PretrainResult:
        if self.resume:
            self.restore()
        self.start()
        metrics = MetricsLog(
            self.run_dir / METRICS, self.state.step if self.resume else None, self.method.log_names
        )
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
                    self.method.on_epoch_start(self._context())
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
                            **self.last_logs,
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
        indices = torch.tensor(batch.positions, device=self.device)  # (B,)
        with self.autocast():
            output = self.method(views, self._context(indices))
        loss = output.loss
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"step {self.state.step + 1}: loss is {loss.item()}; stopped before the optimizer step. "
                f"Continue with a lower learning rate: sslcli pretrain --out {self.run_dir} --resume "
                f"--lr {self.config.lr / 10:.3g}"
            )
        (loss / accumulate).backward()
        self.state.last_loss = loss.item()
        self.last_logs = {name: float(output.logs[name]) for name in self.method.log_names}

    def _context(self, indices: torch.Tensor | None = None) -> StepContext:
        return StepContext(
            self.state.step, self.total_steps, self.state.epoch, indices, features=self._item_features
        )

    def _optimizer_step(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.step += 1
        self.method.on_step_end(self._context())

    def _finish(self) -> PretrainResult:
        from sslcli.reporting.plots import plot_loss

        metadata = {
            "backbone": self.config.backbone,
            "input_size": str(self.config.input_size),
            "domain": self.config.domain,
            "method": self.config.method,
            "feature_dim": str(self.method.feature_dim),
            "sslcli": sslcli.__version__,
        }
        save_encoder(self.run_dir / ENCODER, self.method.backbone, metadata)
        self.method.on_train_end(self.run_dir, show_samples=not self.plan.domain.identifying_paths)
        self.skips.write(self.run_dir / SKIPPED)
        plot_loss(self.run_dir / METRICS, self.run_dir / PLOTS / "loss.png")
        return PretrainResult(
            self.run_dir,
            self.config,
            self.state,
            len(self.plan.items),
            self.plan.data_source,
            dict(self.skips.records),
        )


def pretrain(config: PretrainConfig, resume: bool | ResumeRequest, console) -> PretrainResult:
    """Train ``config`` into ``config.out`` under an exclusive lock on it; ``resume`` continues the run
    there (``True``: no option changes)."""
    request = ResumeRequest() if resume is True else (resume or None)
    run_dir = Path(config.out)
    with exclusive(run_dir, "run directory"):
        clean_temp_files(run_dir)
        return Trainer(open_run(config, request), console).fit()
