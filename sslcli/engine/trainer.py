"""One training loop for every method: AMP, accumulation, warmup+cosine LR, checkpoints, resume,
and data-parallel training under torchrun (DDP; only rank 0 writes).

The trainer composes parts that do not call back into it: ``launch`` (lock, open or follow the run,
the rank-0 handshake) starts it; ``batch_fit`` sizes the batch, ``items`` gives the usable items, each
rank's batches and every item's features, ``step`` runs a micro-batch and an optimizer step,
``selection`` scores the weights and ``outputs`` writes what a finished run leaves."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel

from sslcli.data.datasets import ViewDataset
from sslcli.data.loader import Batch, make_loader
from sslcli.data.skips import SkipLog
from sslcli.distributed import (
    World,
    all_gather_json,
    broadcast_module_state,
    local_device,
)
from sslcli.engine.acceleration import (
    channels_last_convolutions,
    compile_encoders,
    compile_failures,
    training_autocast,
    trains_in_bf16,
)
from sslcli.engine.batch_fit import BatchFit
from sslcli.engine.checkpoint import (
    apply_rng_state,
    check_processes,
    restore_training_state,
    save_training_state,
)
from sslcli.engine.init_weights import InitReport, load_init
from sslcli.engine.items import batches_ahead, item_features, rank_batches, usable_items
from sslcli.engine.opening import OpenedRun
from sslcli.engine.outputs import encoder_metadata, log_step, open_run_tracking, write_outputs
from sslcli.engine.run_record import write_run_record
from sslcli.engine.run_schedule import RunSchedule
from sslcli.engine.selection import (
    SCORE_COLUMNS,
    Selection,
    score_weights,
)
from sslcli.engine.setup import (
    build_method,
    describe_root,
    resolve_device,
)
from sslcli.engine.step import forward_backward, make_optimizer, optimizer_step
from sslcli.engine.time_budget import BudgetPlan
from sslcli.engine.train_state import PretrainResult, TrainState
from sslcli.errors import UserError
from sslcli.methods import Method, StepContext
from sslcli.metrics_csv import MetricsLog
from sslcli.reporting.progress import plan_line, training_progress
from sslcli.run_dir import (
    CHECKPOINT,
    METRICS,
    SKIPPED,
)
from sslcli.tracking.choice import check_installed
from sslcli.tracking.fanout import Tracking


class Trainer:
    """Runs a plan to completion, writing everything into the run directory."""

    def __init__(
        self,
        opened: OpenedRun,
        console,
        world: World | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.opened, self.plan, self.console = opened, opened.plan, console
        self.world = world or World()
        self.resume = opened.resume_from_checkpoint
        self.config = self.plan.config
        self.run_dir = Path(self.config.out)
        if self.world.is_main:  # a tracker's missing package stops the run before anything is written
            check_installed(self.config.logger)
        self.device = local_device(resolve_device(self.config.device), self.world)
        torch.set_num_threads(self.config.threads)  # before any op: CPU results depend on the count
        self.init_report: InitReport | None = None  # what --init loaded into a new run
        self.method: Method = build_method(self.config, self._load_init).to(self.device)
        self.init_record = self.init_report.record() if self.init_report else opened.record.get("init")
        channels_last_convolutions(self.method)
        self.state = TrainState()
        self.last_logs: dict[str, float] = {name: float("nan") for name in self.method.log_names}
        self.skips = SkipLog(self.config.on_error, self.plan.data_root)
        same_data = self.resume and opened.record.get("data_set") == self.plan.data_set
        self.items = usable_items(
            self.plan.items, self.plan.domain, self.config, self.skips, self.run_dir / SKIPPED, same_data,
            self.world, console,
        )  # fmt: skip
        where = describe_root(self.plan.domain, self.plan.data_root)
        fit = BatchFit(self.config, self.world, where, self.plan.lr_scales_with_batch, self.plan.batch_chosen)
        if not self.resume:
            fit.to_data(len(self.items))
        self.config = fit.config
        config = self.config
        self.optimizer = make_optimizer(self.method, config.optimizer, config.lr, config.weight_decay)
        self.plan.domain.use_device(self.device)  # before its views: it may augment batches there
        try:
            view_fn = self.plan.domain.views(self.method.family, config.input_size, config.views)
        except (TypeError, ValueError) as err:
            raise UserError(f"view options: {err}") from None
        self.dataset = ViewDataset(self.plan.domain, self.items, view_fn, config.seed)
        if not self.resume and self.world.is_main:  # the other ranks take rank 0's batch
            fit.to_device(self.method, self.dataset, len(self.items), self.device, self.autocast)
        self.config = self.plan.config = fit.config
        opened.notes.extend(fit.notes)
        # how the step's memory was planned (config.json): a resumed run's as recorded, a new run's fit
        self.memory_record = fit.memory_record or opened.record.get("memory")
        self.step_estimate = fit.step_estimate  # optimizer steps a --time-budget should hold
        if fit.scored_items is not None:
            self.state.scored_items = fit.scored_items
        micro_per_epoch = len(self.items) // self.global_batch
        self.steps_per_epoch = micro_per_epoch // self.config.accumulate
        if self.steps_per_epoch == 0:
            raise UserError(
                f"{describe_root(self.plan.domain, self.plan.data_root)}: {len(self.items)} usable items are "
                f"fewer than one step of batch size {self.config.batch_size} x accumulate "
                f"{self.config.accumulate}{fit.times_processes()}"
            )
        planning = self.config.time_budget_s is not None and not self.resume
        if planning and self.step_estimate is not None:  # until the budget is planned from real steps
            self.config = self.config.updated(epochs=max(1, round(self.step_estimate / self.steps_per_epoch)))
        budget_s = self.config.time_budget_s if planning else None
        self.schedule = RunSchedule(
            self.config.epochs, self.steps_per_epoch, self.config.warmup_epochs, budget_s, clock
        )
        # called with (state, method) after each epoch's checkpoint, outside the timed steps
        self.on_epoch_end: Callable[[TrainState, Method], None] | None = None
        self.epoch_started = False  # the current epoch's start (``_start_epoch``) has run
        self.selection = Selection(self.config.select, self.run_dir)
        if self.config.sync_batchnorm and not self.world.alone and self.device.type != "cuda":
            raise UserError("--sync-batchnorm: torch's SyncBatchNorm runs on CUDA devices only")

    def _load_init(self, backbone: torch.nn.Module) -> None:
        """``--init`` weights into the backbone of a run being created; a reopened run keeps its
        checkpoint (config.json has only the file's name, not where it is)."""
        if self.config.init is None:
            return
        if not self.opened.record:
            self.init_report = load_init(backbone, Path(self.config.init).expanduser())
        elif not self.resume:
            self.opened.notes.append(
                f"the run restarts from step 0 without its --init weights ({self.config.init}); to load "
                "them, run the same command with --init and without --resume"
            )

    @property
    def global_batch(self) -> int:
        """Items of one micro-batch over all ranks."""
        return self.config.batch_size * self.world.size

    def _data_parallel(self) -> torch.nn.Module:
        """What the loop calls: the method, or under torchrun a DDP wrapper that averages gradients
        over ranks in backward (with ``sync_batchnorm``, batch norm sees every rank's batch)."""
        if self.world.alone:
            return self.method
        if self.config.sync_batchnorm:
            self.method = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.method)
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(self.method, device_ids=device_ids)

    def start(self) -> None:
        """Write what the run starts from: its config and data set, the domain's run state, the skip
        list (rank 0 only)."""
        if not self.world.is_main:
            return
        for note in self.opened.notes:
            self.console.print(f"note: {note}")
        if self.init_report is not None:
            self.console.print(self.init_report.note(), markup=False, highlight=False, soft_wrap=True)
        record = self.opened.record
        resumes = list(record.get("resumes", []))
        if record:  # a resume: when, and what it changed
            resumes.append({"at_step": self.state.step, "notes": self.opened.notes})
        # config.json first: once it exists the folder is a run that the same command restarts, so a
        # failure (a full disk) in any write after it still leaves a folder that recovers
        write_run_record(
            self.run_dir, self.config, self.plan.data_set, resumes, self.world.size,
            record.get("time_budget"), self.init_record, self.memory_record,
        )  # fmt: skip
        self.plan.domain.save_run_state(self.run_dir)
        (self.run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        self.skips.write(self.run_dir / SKIPPED)

    # --- checkpoints -------------------------------------------------------------------------
    def _gather_skips(self) -> None:
        """Every rank's bad files into this rank's skip log (a collective: every rank calls it)."""
        if not self.world.alone:
            for records in all_gather_json(self.skips.records):
                self.skips.records.update(records)

    def save(self) -> None:
        self._gather_skips()
        if not self.world.is_main:
            return
        save_training_state(self.run_dir / CHECKPOINT, self.method, self.optimizer, self.state, self.device)
        self.skips.write(self.run_dir / SKIPPED)  # the bad files met so far, for the summary on resume

    def restore(self) -> None:
        """Load the verified checkpoint (see ``restore_training_state``) into the method and optimizer."""
        check_processes(self.run_dir, self.opened.record.get("processes", 1), self.world.size)
        path = self.run_dir / CHECKPOINT
        self.state, rng = restore_training_state(path, self.method, self.optimizer, TrainState)
        if self.state.epoch > self.config.epochs:
            raise UserError(
                f"{self.run_dir}: --epochs {self.config.epochs} is fewer than the {self.state.epoch} "
                "epochs already trained"
            )
        apply_rng_state(path, rng, self.device)

    # --- the loop ----------------------------------------------------------------------------
    def autocast(self) -> contextlib.AbstractContextManager:
        return training_autocast(self.device, self.config.precision)

    def begin(self) -> None:
        """Restore the checkpoint of a resumed run, then write what the run starts from."""
        if self.resume:
            self.restore()
        self.start()

    def fit(self) -> PretrainResult:
        """The training loop, from where ``begin`` left the run, to the finished run directory."""
        self.model = self._data_parallel()  # a collective under torchrun: after rank 0's handshake
        if self.config.compile:
            compile_encoders(self.method.backbone)
        metrics, tracking = None, Tracking([], self._warn)
        if self.world.is_main:
            resumed_at = self.state.step if self.resume else None
            columns = (*self.method.log_names, *(SCORE_COLUMNS if self.selection.active else ()))
            metrics = MetricsLog(self.run_dir / METRICS, resumed_at, columns)
            private, record = self.plan.domain.identifying_paths, self.plan.data_set
            tracking = open_run_tracking(
                self.config, record, private, not self.resume, self.state.step, self._warn
            )
        with tracking:  # closed as failed if training stops on an error
            self._train(metrics, tracking)
            return self._finish(tracking)

    def _warn(self, line: str) -> None:
        self.console.print(line, markup=False, highlight=False)

    def _train(self, metrics: MetricsLog | None, tracking: Tracking) -> None:
        """The epochs left to train, logging each ``log_every``-th step (rank 0 only); progress every
        ``log_every_s`` seconds where stderr is not a terminal, after a line with the plan."""
        accumulate = self.config.accumulate
        micro_per_epoch = self.steps_per_epoch * accumulate
        precision = "bf16 autocast" if trains_in_bf16(self.device, self.config.precision) else "fp32"
        line = plan_line(
            len(self.items), self.config, self.world.size, self.steps_per_epoch, self.schedule.planning,
            self.schedule.total_steps, self.state.step,
        )  # fmt: skip
        self.console.out(f"{line}, device {self.device}, {precision}", highlight=False)
        with training_progress(self.console, self.config.log_every_s) as progress:
            task = progress.add_task(
                "pretrain",
                total=self.schedule.total_steps,
                completed=self.state.step,
                loss=float("nan"),
                lr=0.0,
                rate=0.0,
                epoch=self._epoch_of_epochs(),
            )
            while self.state.epoch < self.config.epochs:
                self._start_epoch()  # before the loader: a method that draws each epoch draws here
                loader = make_loader(
                    self.dataset, self._batches_ahead(), self.config.num_workers, self.device.type == "cuda"
                )
                tick, items_since = time.perf_counter(), 0
                for batch in loader:
                    if self._start_epoch():  # the next epoch of a loader that spans epochs
                        tick = time.perf_counter()  # the hook's time is no step's
                    self.skips.add(batch.skipped)
                    self.state.batch_in_epoch += 1
                    with compile_failures(self.device):  # --compile compiles in the first step
                        trained = self._forward_backward(batch, accumulate)
                    items_since += trained * self.world.size
                    if self.state.batch_in_epoch % accumulate:
                        continue
                    lr = self.schedule.lr(self.state.step, self.config.lr)
                    self._optimizer_step(lr)
                    self._follow_budget(self.schedule.after_step())
                    now = time.perf_counter()
                    rate = items_since / max(now - tick, 1e-9)
                    self.state.elapsed_s += now - tick
                    self.state.items_seen += items_since
                    tick, items_since = now, 0
                    progress.update(
                        task,
                        total=self.schedule.total_steps,  # planned anew by --time-budget
                        advance=1,
                        loss=self.state.last_loss,
                        lr=lr,
                        rate=rate,
                        epoch=self._epoch_of_epochs(),
                    )
                    scores = self._score_weights() if self.state.batch_in_epoch == micro_per_epoch else {}
                    if scores:
                        tick = time.perf_counter()  # the scoring is no step's time
                    logged = (
                        self.state.step % self.config.log_every == 0
                        or self.state.step == self.schedule.total_steps
                    )
                    if metrics is not None and (logged or scores):
                        row = {
                            "epoch": self.state.epoch, "loss": self.state.last_loss, "lr": lr,
                            "items_per_s": rate, "elapsed_s": self.state.elapsed_s, **self.last_logs,
                        }  # fmt: skip
                        log_step(metrics, tracking, self.state.step, row, scores, self.selection.active)
                    if self.state.step % self.config.checkpoint_every == 0:
                        self.save()
                    if self.state.batch_in_epoch < micro_per_epoch:
                        continue
                    self._end_epoch()
                    if self.state.epoch >= self.config.epochs or self._draws_each_epoch:
                        break  # the last epoch trained, or a loader of one epoch

    def _start_epoch(self) -> bool:
        """The epoch's start, once, before its first batch (not when resuming mid-epoch): the method's
        hook, the budget's epoch timer. True if it started here."""
        if self.state.batch_in_epoch or self.epoch_started:
            return False
        self.epoch_started = True
        self.schedule.epoch_starts(self.state.epoch)
        self.method.on_epoch_start(self._context())
        broadcast_module_state(self.method)  # what the hook drew, from rank 0's draw
        return True

    def _end_epoch(self) -> None:
        self.epoch_started = False
        self.state.epoch += 1
        self.state.batch_in_epoch = 0
        self.save()
        self._follow_budget(self.schedule.after_epoch(self.state.epoch))
        if self.on_epoch_end is not None:
            self.on_epoch_end(self.state, self.method)

    def _epoch_of_epochs(self) -> str:
        """``3/10``: the epoch being trained, counted from 1, and the epochs planned."""
        return f"{self.state.epoch + 1}/{self.config.epochs}"

    def _follow_budget(self, plan: BudgetPlan | None) -> None:
        """Train for the epochs of a new budget plan, recorded in config.json and said on one line."""
        if plan is None:
            return
        self.config = self.config.updated(epochs=plan.epochs)
        if self.world.is_main:
            record = self.opened.record
            write_run_record(
                self.run_dir, self.config, self.plan.data_set, list(record.get("resumes", [])),
                self.world.size, time_budget=plan.record(), init=self.init_record,
                memory=self.memory_record,
            )  # fmt: skip
        self.console.out(plan.describe(), highlight=False)

    @property
    def _draws_each_epoch(self) -> bool:
        """Whether the method draws each epoch's items from weights its training sets (DeepCluster's
        clusters): then an epoch's batches are known only when it starts, and each gets its own loader."""
        return type(self.method).sampling_weights is not Method.sampling_weights

    def _batches_ahead(self) -> Iterator[list[tuple[int, int]]]:
        """This rank's micro-batches from the current one on (``items.batches_ahead``)."""
        micro_per_epoch = self.steps_per_epoch * self.config.accumulate
        return batches_ahead(
            self.state.epoch, self.state.batch_in_epoch, micro_per_epoch, lambda: self.config.epochs,
            self._epoch_batches, self._draws_each_epoch,
        )  # fmt: skip

    def _epoch_batches(self, epoch: int) -> list[list[tuple[int, int]]]:
        weights = self.method.sampling_weights()
        return rank_batches(len(self.items), self.config, self.world, epoch, weights)

    def _score_weights(self) -> dict[str, float]:
        """At a scoring point of ``--select`` (rank 0, the epoch's last step): the label-free scores, the
        weights kept when they are the best so far (``selection.score_weights``)."""
        if not self.world.is_main or not self.selection.due(self.state.epoch + 1, self.config.epochs):
            return {}
        scores = score_weights(
            self.selection, self.state, self.method.backbone, self.plan.domain, self.items, self.dataset,
            self.config, self.device, self.skips, self._encoder_metadata(),
        )  # fmt: skip
        self.method.train()
        return scores

    def _item_features(self) -> torch.Tensor:
        """Pooled backbone features (N, F) of every training item, on CPU (``items.item_features``)."""
        features = item_features(
            self.method.backbone, self.method.feature_dim, self.plan.domain, self.items, self.config,
            self.device, self.skips, self.world,
        )  # fmt: skip
        self.method.train()
        return features

    def _forward_backward(self, batch: Batch, accumulate: int) -> int:
        """Forward and backward one micro-batch (``step.forward_backward``); returns the items trained
        on (0: too few to learn from) and records the loss and logs, each the mean over ranks."""
        trained = forward_backward(
            self.model, self.method.log_names, batch, self.plan.domain, self.device, self.autocast,
            self._context, accumulate, self._non_finite_advice,
        )  # fmt: skip
        if trained.items:
            self.state.last_loss, self.last_logs = trained.loss, trained.logs
        return trained.items

    def _non_finite_advice(self, loss: float) -> str:
        return (
            f"step {self.state.step + 1}: loss is {loss}; stopped before the optimizer step. Continue "
            f"with a lower learning rate: sslcli pretrain --out {self.run_dir} --resume --lr "
            f"{self.config.lr / 10:.3g}"
        )

    def _context(self, indices: torch.Tensor | None = None) -> StepContext:
        state = self.state
        return StepContext(
            state.step,
            self.schedule.total_steps,
            state.epoch,
            indices,
            self.world,
            features=self._item_features,
        )

    def _optimizer_step(self, lr: float) -> None:
        optimizer_step(self.optimizer, lr)
        self.state.step += 1
        self.method.on_step_end(self._context())

    def _finish(self, tracking: Tracking) -> PretrainResult:
        self._gather_skips()
        if self.world.is_main:
            drawn = write_outputs(
                self.run_dir, self.selection, self.state, self.method, self._encoder_metadata(),
                not self.plan.domain.identifying_paths, self.skips, self.console,
            )  # fmt: skip
            tracking.log_images({f"plots/{path.stem}": path for path in drawn}, self.state.step)
        return PretrainResult(
            self.run_dir,
            self.config,
            self.state,
            len(self.plan.items),
            self.plan.data_source,
            dict(self.skips.records),
            self.schedule.budget,
        )

    def _encoder_metadata(self) -> dict[str, str]:
        return encoder_metadata(self.config, self.method.feature_dim)
