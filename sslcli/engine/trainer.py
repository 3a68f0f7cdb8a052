"""One training loop for every method: AMP, accumulation, warmup+cosine LR, checkpoints, resume,
and data-parallel training under torchrun (DDP; only rank 0 writes).

The loop runs over parts that do not call back into it: ``launch`` (lock, open or follow the run, the
rank-0 handshake) starts it on a ``run_setup.PreparedRun`` (method, items, batch, optimizer, views,
schedule, checkpoints); ``items`` gives each rank's batches and every item's features, ``step`` runs a
micro-batch and an optimizer step, ``selection`` scores the weights and ``outputs`` writes what a
finished run leaves."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import torch
from torch.nn.parallel import DistributedDataParallel

from sslcli.data.loader import Batch, make_loader
from sslcli.distributed import broadcast_module_state
from sslcli.engine.acceleration import compile_encoders, compile_failures, trains_in_bf16
from sslcli.engine.items import batches_ahead, item_features, rank_batches
from sslcli.engine.outputs import encoder_metadata, log_step, open_run_tracking, write_outputs
from sslcli.engine.run_setup import PreparedRun
from sslcli.engine.selection import SCORE_COLUMNS, score_weights
from sslcli.engine.step import forward_backward, optimizer_step
from sslcli.engine.time_budget import BudgetPlan
from sslcli.engine.train_state import PretrainResult, TrainState
from sslcli.methods import Method, StepContext
from sslcli.metrics_csv import MetricsLog
from sslcli.reporting.progress import plan_line, training_progress
from sslcli.run_dir import METRICS
from sslcli.tracking.fanout import Tracking


class Trainer:
    """Trains a prepared run to completion, writing everything into the run directory."""

    def __init__(self, run: PreparedRun):
        self.run = run
        self.last_logs: dict[str, float] = {name: float("nan") for name in self.run.method.log_names}
        # called with (state, method) after each epoch's checkpoint, outside the timed steps
        self.on_epoch_end: Callable[[TrainState, Method], None] | None = None
        self.epoch_started = False  # the current epoch's start (``_start_epoch``) has run

    def begin(self) -> None:
        """Restore the checkpoint of a resumed run, then write what the run starts from."""
        self.run.begin()

    def _data_parallel(self) -> torch.nn.Module:
        """What the loop calls: the method, or under torchrun a DDP wrapper that averages gradients
        over ranks in backward (with ``sync_batchnorm``, batch norm sees every rank's batch)."""
        if self.run.world.alone:
            return self.run.method
        if self.run.config.sync_batchnorm:
            self.run.method = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.run.method)
        device_ids = [self.run.device.index] if self.run.device.type == "cuda" else None
        return DistributedDataParallel(self.run.method, device_ids=device_ids)

    def fit(self) -> PretrainResult:
        """The training loop, from where ``begin`` left the run, to the finished run directory."""
        self.model = self._data_parallel()  # a collective under torchrun: after rank 0's handshake
        if self.run.config.compile:
            compile_encoders(self.run.method.backbone)
        metrics, tracking = None, Tracking([], self._warn)
        if self.run.world.is_main:
            resumed_at = self.run.state.step if self.run.resume else None
            columns = (*self.run.method.log_names, *(SCORE_COLUMNS if self.run.selection.active else ()))
            metrics = MetricsLog(self.run.run_dir / METRICS, resumed_at, columns)
            private, record = self.run.plan.domain.identifying_paths, self.run.plan.data_set
            tracking = open_run_tracking(
                self.run.config, record, private, not self.run.resume, self.run.state.step, self._warn
            )
        with tracking:  # closed as failed if training stops on an error
            self._train(metrics, tracking)
            return self._finish(tracking)

    def _warn(self, line: str) -> None:
        self.run.console.print(line, markup=False, highlight=False)

    def _train(self, metrics: MetricsLog | None, tracking: Tracking) -> None:
        """The epochs left to train, logging each ``log_every``-th step (rank 0 only); progress every
        ``log_every_s`` seconds where stderr is not a terminal, after a line with the plan."""
        run = self.run
        accumulate = run.config.accumulate
        micro_per_epoch = run.steps_per_epoch * accumulate
        precision = "bf16 autocast" if trains_in_bf16(run.device, run.config.precision) else "fp32"
        line = plan_line(
            len(run.items), run.config, run.world.size, run.steps_per_epoch, run.schedule.planning,
            run.schedule.total_steps, run.state.step,
        )  # fmt: skip
        run.console.out(f"{line}, device {run.device}, {precision}", highlight=False)
        with training_progress(run.console, run.config.log_every_s) as progress:
            task = progress.add_task(
                "pretrain",
                total=run.schedule.total_steps,
                completed=run.state.step,
                loss=float("nan"),
                lr=0.0,
                rate=0.0,
                epoch=self._epoch_of_epochs(),
            )
            while run.state.epoch < run.config.epochs:
                self._start_epoch()  # before the loader: a method that draws each epoch draws here
                loader = make_loader(
                    run.dataset,
                    self._batches_ahead(),
                    run.config.num_workers,
                    run.device.type == "cuda",
                )
                tick, items_since = time.perf_counter(), 0
                for batch in loader:
                    if self._start_epoch():  # the next epoch of a loader that spans epochs
                        tick = time.perf_counter()  # the hook's time is no step's
                    run.skips.add(batch.skipped)
                    run.state.batch_in_epoch += 1
                    with compile_failures(run.device):  # --compile compiles in the first step
                        trained = self._forward_backward(batch, accumulate)
                    items_since += trained * run.world.size
                    if run.state.batch_in_epoch % accumulate:
                        continue
                    lr = run.schedule.lr(run.state.step, run.config.lr)
                    self._optimizer_step(lr)
                    self._follow_budget(run.schedule.after_step())
                    now = time.perf_counter()
                    rate = items_since / max(now - tick, 1e-9)
                    run.state.elapsed_s += now - tick
                    run.state.items_seen += items_since
                    tick, items_since = now, 0
                    progress.update(
                        task,
                        total=run.schedule.total_steps,  # planned anew by --time-budget
                        advance=1,
                        loss=run.state.last_loss,
                        lr=lr,
                        rate=rate,
                        epoch=self._epoch_of_epochs(),
                    )
                    scores = self._score_weights() if run.state.batch_in_epoch == micro_per_epoch else {}
                    if scores:
                        tick = time.perf_counter()  # the scoring is no step's time
                    logged = (
                        run.state.step % run.config.log_every == 0
                        or run.state.step == run.schedule.total_steps
                    )
                    if metrics is not None and (logged or scores):
                        row = {
                            "epoch": run.state.epoch, "loss": run.state.last_loss, "lr": lr,
                            "items_per_s": rate, "elapsed_s": run.state.elapsed_s, **self.last_logs,
                        }  # fmt: skip
                        log_step(metrics, tracking, run.state.step, row, scores, run.selection.active)
                    if run.state.step % run.config.checkpoint_every == 0:
                        run.save()
                    if run.state.batch_in_epoch < micro_per_epoch:
                        continue
                    self._end_epoch()
                    if run.state.epoch >= run.config.epochs or self._draws_each_epoch:
                        break  # the last epoch trained, or a loader of one epoch

    def _start_epoch(self) -> bool:
        """The epoch's start, once, before its first batch (not when resuming mid-epoch): the method's
        hook, the budget's epoch timer. True if it started here."""
        if self.run.state.batch_in_epoch or self.epoch_started:
            return False
        self.epoch_started = True
        self.run.schedule.epoch_starts(self.run.state.epoch)
        self.run.method.on_epoch_start(self._context())
        broadcast_module_state(self.run.method)  # what the hook drew, from rank 0's draw
        return True

    def _end_epoch(self) -> None:
        self.epoch_started = False
        self.run.state.epoch += 1
        self.run.state.batch_in_epoch = 0
        self.run.save()
        self._follow_budget(self.run.schedule.after_epoch(self.run.state.epoch))
        if self.on_epoch_end is not None:
            self.on_epoch_end(self.run.state, self.run.method)

    def _epoch_of_epochs(self) -> str:
        """``3/10``: the epoch being trained, counted from 1, and the epochs planned."""
        return f"{self.run.state.epoch + 1}/{self.run.config.epochs}"

    def _follow_budget(self, plan: BudgetPlan | None) -> None:
        """Train for the epochs of a new budget plan, recorded in config.json and said on one line."""
        if plan is not None:
            self.run.follow_budget(plan)
            self.run.console.out(plan.describe(), highlight=False)

    @property
    def _draws_each_epoch(self) -> bool:
        """Whether the method draws each epoch's items from weights its training sets (DeepCluster's
        clusters): then an epoch's batches are known only when it starts, and each gets its own loader."""
        return type(self.run.method).sampling_weights is not Method.sampling_weights

    def _batches_ahead(self) -> Iterator[list[tuple[int, int]]]:
        """This rank's micro-batches from the current one on (``items.batches_ahead``)."""
        run = self.run
        micro_per_epoch = run.steps_per_epoch * run.config.accumulate
        return batches_ahead(
            run.state.epoch, run.state.batch_in_epoch, micro_per_epoch, lambda: run.config.epochs,
            self._epoch_batches, self._draws_each_epoch,
        )  # fmt: skip

    def _epoch_batches(self, epoch: int) -> list[list[tuple[int, int]]]:
        weights = self.run.method.sampling_weights()
        return rank_batches(len(self.run.items), self.run.config, self.run.world, epoch, weights)

    def _score_weights(self) -> dict[str, float]:
        """At a scoring point of ``--select`` (rank 0, the epoch's last step): the label-free scores, the
        weights kept when they are the best so far (``selection.score_weights``)."""
        run = self.run
        if not run.world.is_main or not run.selection.due(run.state.epoch + 1, run.config.epochs):
            return {}
        scores = score_weights(
            run.selection, run.state, run.method.backbone, run.plan.domain, run.items, run.dataset,
            run.config, run.device, run.skips, self._encoder_metadata(),
        )  # fmt: skip
        run.method.train()
        return scores

    def _item_features(self) -> torch.Tensor:
        """Pooled backbone features (N, F) of every training item, on CPU (``items.item_features``)."""
        run = self.run
        features = item_features(
            run.method.backbone, run.method.feature_dim, run.plan.domain, run.items, run.config,
            run.device, run.skips, run.world,
        )  # fmt: skip
        run.method.train()
        return features

    def _forward_backward(self, batch: Batch, accumulate: int) -> int:
        """Forward and backward one micro-batch (``step.forward_backward``); returns the items trained
        on (0: too few to learn from) and records the loss and logs, each the mean over ranks."""
        run = self.run
        trained = forward_backward(
            self.model, run.method.log_names, batch, run.plan.domain, run.device, run.autocast,
            self._context, accumulate, self._non_finite_advice,
        )  # fmt: skip
        if trained.items:
            run.state.last_loss, self.last_logs = trained.loss, trained.logs
        return trained.items

    def _non_finite_advice(self, loss: float) -> str:
        return (
            f"step {self.run.state.step + 1}: loss is {loss}; stopped before the optimizer step. Continue "
            f"with a lower learning rate: sslcli pretrain --out {self.run.run_dir} --resume --lr "
            f"{self.run.config.lr / 10:.3g}"
        )

    def _context(self, indices: torch.Tensor | None = None) -> StepContext:
        state = self.run.state
        return StepContext(
            state.step,
            self.run.schedule.total_steps,
            state.epoch,
            indices,
            self.run.world,
            features=self._item_features,
        )

    def _optimizer_step(self, lr: float) -> None:
        optimizer_step(self.run.optimizer, lr)
        self.run.state.step += 1
        self.run.method.on_step_end(self._context())

    def _finish(self, tracking: Tracking) -> PretrainResult:
        run = self.run
        run.gather_skips()
        if run.world.is_main:
            drawn = write_outputs(
                run.run_dir, run.selection, run.state, run.method, self._encoder_metadata(),
                not run.plan.domain.identifying_paths, run.skips, run.console,
            )  # fmt: skip
            tracking.log_images({f"plots/{path.stem}": path for path in drawn}, run.state.step)
        return PretrainResult(
            run.run_dir,
            run.config,
            run.state,
            len(run.plan.items),
            run.plan.data_source,
            dict(run.skips.records),
            run.schedule.budget,
        )

    def _encoder_metadata(self) -> dict[str, str]:
        return encoder_metadata(self.run.config, self.run.method.feature_dim)
