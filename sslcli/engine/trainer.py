"""One training loop for every method: AMP, accumulation, warmup+cosine LR, checkpoints, resume,
and data-parallel training under torchrun (DDP; only rank 0 writes)."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch
from torch.nn.parallel import DistributedDataParallel

import sslcli
from sslcli.config import PretrainConfig
from sslcli.data.datasets import ViewDataset, scan_items
from sslcli.data.loader import Batch, collate, epoch_batches, make_loader
from sslcli.data.skips import SkipLog
from sslcli.distributed import (
    PeerStopped,
    World,
    all_gather_json,
    all_reduce_mean,
    all_reduce_min,
    broadcast_json,
    broadcast_module_state,
    current_world,
    gather_rows,
    local_device,
    process_group,
)
from sslcli.engine.acceleration import (
    channels_last_convolutions,
    channels_last_views,
    compile_encoders,
    compile_failures,
    training_autocast,
    trains_in_bf16,
)
from sslcli.engine.checkpoint import apply_rng_state, restore_training_state, save_checkpoint
from sslcli.engine.features import EveryInput, feature_batches
from sslcli.engine.init_weights import InitReport, load_init
from sslcli.engine.memory_plan import cuda_devices, free_memory, measure_step, optimizer_bytes, plan_memory
from sslcli.engine.opening import OpenedRun, ResumeRequest, follow_run, open_run
from sslcli.engine.run_record import write_run_record
from sslcli.engine.schedule import warmup_cosine, warmup_steps
from sslcli.engine.selection import (
    SCORE_COLUMNS,
    SCORED_ITEMS,
    Selection,
    augmented_embeddings,
    lidar_positions,
    scored_count,
    scored_subset,
)
from sslcli.engine.setup import (
    build_method,
    describe_root,
    resolve_device,
)
from sslcli.engine.step_plan import budget_steps, compute_seconds_per_item, planned_batch, seconds_per_item
from sslcli.engine.stop_signals import signals_stop_training
from sslcli.engine.threads import restored_thread_count
from sslcli.engine.time_budget import BudgetPlan, EpochCheck, StepTimer, format_duration
from sslcli.errors import UserError
from sslcli.methods import Method, StepContext
from sslcli.metrics_csv import MetricsLog
from sslcli.reporting.progress import item_progress, training_progress
from sslcli.run_dir import (
    CHECKPOINT,
    METRICS,
    PLOTS,
    SKIPPED,
    clean_temp_files,
    exclusive,
)
from sslcli.tracking.base import TrackingContext
from sslcli.tracking.choice import check_installed
from sslcli.tracking.fanout import Tracking, open_tracking
from sslcli.tracking.params import run_name, tracking_params

MIN_BATCH = 2  # the fewest items per step any method can learn from (pairs, batch statistics)
PROBE_ITEMS = 16  # items whose step the memory and step plans measure


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
    selected_epoch: int = 0  # the epoch after which the weights --select keeps were taken (0: none yet)
    selected_step: int = 0
    selected_score: float = 0.0  # its score (meaningful once selected_epoch > 0)
    scored_items: int = SCORED_ITEMS  # items each scoring of --select embeds (engine.selection.scored_count)
    # fields a checkpoint of an earlier version lacks: its run resumes with their defaults
    LATER_FIELDS: ClassVar[tuple[str, ...]] = (
        "selected_epoch",
        "selected_step",
        "selected_score",
        "scored_items",
    )


@dataclass
class PretrainResult:
    run_dir: Path
    config: PretrainConfig
    state: TrainState
    items_found: int
    data_source: str
    skipped: dict[str, str] = field(default_factory=dict)
    budget: BudgetPlan | None = None  # how --time-budget planned the epochs


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
        self.items = self._usable_items()
        if not self.resume:
            self._fit_batch_to_data()
        self.optimizer = self._make_optimizer()
        self.plan.domain.use_device(self.device)  # before its views: it may augment batches there
        try:
            view_fn = self.plan.domain.views(self.method.family, self.config.input_size, self.config.views)
        except (TypeError, ValueError) as err:
            raise UserError(f"view options: {err}") from None
        self.dataset = ViewDataset(self.plan.domain, self.items, view_fn, self.config.seed)
        # how the step's memory was planned (config.json): a resumed run's as recorded, a new run's below
        self.memory_record = opened.record.get("memory")
        self.step_estimate: float | None = None  # optimizer steps a --time-budget should hold (step_plan)
        if not self.resume and self.world.is_main:  # the other ranks take rank 0's batch
            self._fit_batch_to_device()
        micro_per_epoch = len(self.items) // self.global_batch
        self.steps_per_epoch = micro_per_epoch // self.config.accumulate
        if self.steps_per_epoch == 0:
            raise UserError(
                f"{describe_root(self.plan.domain, self.plan.data_root)}: {len(self.items)} usable items are "
                f"fewer than one step of batch size {self.config.batch_size} x accumulate "
                f"{self.config.accumulate}{self._times_processes()}"
            )
        planning = self.config.time_budget_s is not None and not self.resume
        if planning and self.step_estimate is not None:  # until the budget is planned from real steps
            self.config = self.config.updated(epochs=max(1, round(self.step_estimate / self.steps_per_epoch)))
        self.total_steps = self.steps_per_epoch * self.config.epochs
        self.warmup_steps = warmup_steps(self.config.warmup_epochs, self.steps_per_epoch, self.total_steps)
        self.step_timer = StepTimer(clock, self.steps_per_epoch, self.warmup_steps) if planning else None
        self.epoch_check: EpochCheck | None = None  # set by the plan: times stretches of epochs whole
        # called with (state, method) after each epoch's checkpoint, outside the timed steps
        self.on_epoch_end: Callable[[TrainState, Method], None] | None = None
        self.epoch_started = False  # the current epoch's start (``_start_epoch``) has run
        self.budget: BudgetPlan | None = None
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

    def _times_processes(self) -> str:
        return "" if self.world.alone else f" x {self.world.size} processes"

    def _data_parallel(self) -> torch.nn.Module:
        """What the loop calls: the method, or under torchrun a DDP wrapper that averages gradients
        over ranks in backward (with ``sync_batchnorm``, batch norm sees every rank's batch)."""
        if self.world.alone:
            return self.method
        if self.config.sync_batchnorm:
            self.method = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.method)
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(self.method, device_ids=device_ids)

    def _usable_items(self) -> list:
        """The items training draws from.

        By default every item found: a bad file is met when a batch decodes it (``raise`` stops with
        it named, ``skip`` drops it from that batch and lists it). With ``check_data`` every file is
        decoded first and only the usable ones are kept (on resume, read back from ``skipped.csv``).
        Either way the list is fixed for the run, so a resumed epoch replays the same order. Under
        torchrun the other ranks take rank 0's list (it has written it before they start).
        """
        skipped_csv = self.run_dir / SKIPPED
        if not self.world.is_main:
            if not self.config.check_data:
                return list(self.plan.items)
            self.skips.read(skipped_csv)
            return self.skips.kept(self.plan.items)
        same_data = self.opened.record.get("data_set") == self.plan.data_set
        if self.resume and same_data and skipped_csv.is_file():
            self.skips.read(skipped_csv)
            if self.config.check_data:
                return self.skips.kept(self.plan.items)
        if not self.config.check_data:
            return list(self.plan.items)
        with item_progress(self.console, self.config.log_every_s) as progress:
            return scan_items(
                self.plan.domain, self.plan.items, self.skips, self.config.num_workers, progress
            )

    def _fit_batch_to_data(self) -> None:
        """Lower the batch to what a small folder holds (noted); refuse fewer than ``MIN_BATCH`` per step."""
        config, usable = self.config, len(self.items)
        fits = usable // (config.accumulate * self.world.size)
        if fits >= config.batch_size:
            return
        if fits < MIN_BATCH:
            raise UserError(
                f"{describe_root(self.plan.domain, self.plan.data_root)}: {usable} usable item(s); "
                f"{config.method} needs at least {MIN_BATCH * config.accumulate * self.world.size} "
                f"({MIN_BATCH} per step x accumulate {config.accumulate}{self._times_processes()})"
            )
        self._rebatch(
            fits,
            f"{usable} usable items are fewer than batch size {config.batch_size} x accumulate "
            f"{config.accumulate}; using batch size {fits}",
        )

    def _rebatch(self, batch_size: int, note: str) -> None:
        """Train with ``batch_size`` items a step instead, noting why; an lr the user did not give
        follows the batch linearly."""
        old = self.config.batch_size
        lr = self.config.lr * batch_size / old if self.plan.lr_scales_with_batch else self.config.lr
        self.config = self.plan.config = self.config.updated(batch_size=batch_size, lr=lr)
        scaled = f" (lr {lr:.3g}, scaled with the batch)" if self.plan.lr_scales_with_batch else ""
        self.opened.notes.append(note + scaled)

    def _fit_batch_to_device(self) -> None:
        """Probe a few real items: under a time budget, a batch that leaves too few optimizer steps is
        lowered (``engine.step_plan``); one that does not fit memory is split (``engine.memory_plan``)."""
        views, count, load_s = self._probe_views()
        if views is None:
            return  # too few usable items to measure: the batch checks report it
        if self.config.time_budget_s is not None:
            self._fit_batch_to_budget(views, count, load_s)
        self._fit_batch_to_memory(views, count)

    def _fit_batch_to_budget(self, views: list, count: int, load_s: float) -> None:
        """The batch that gives the budget enough optimizer steps at the probe's cost per item (unless the
        user chose it), and how many items each scoring of ``--select`` can afford."""
        config = self.config
        compute_s = compute_seconds_per_item(self.method.backbone, views, count, self.autocast)
        item_s = seconds_per_item(load_s, compute_s, self.device.type, config.num_workers)
        chosen = self.plan.batch_chosen
        batch = (
            config.batch_size if chosen else planned_batch(config.time_budget_s, item_s, config.batch_size)
        )
        self.step_estimate = budget_steps(config.time_budget_s, item_s, batch * config.accumulate)
        self.state.scored_items = scored_count(config.time_budget_s, item_s)
        if batch < config.batch_size:
            before = budget_steps(config.time_budget_s, item_s, config.batch_size * config.accumulate)
            self._rebatch(
                batch,
                f"time budget {format_duration(config.time_budget_s)}: batch {config.batch_size} leaves "
                f"about {before:.0f} optimizer steps at {item_s * 1000:.3g} ms an item; batch {batch} "
                f"about {self.step_estimate:.0f}",
            )

    def _fit_batch_to_memory(self, views: list, count: int) -> None:
        """Measure a step's memory on the probe's items (``engine.memory_plan``); a recipe's batch that
        does not fit becomes micro-batches with gradient accumulation (noted), a batch the user chose
        that does not fit is refused with the estimate."""
        saved = measure_step(self.method.backbone, views, self.autocast)
        input_bytes = sum(t.nbytes for view in views for t in view.values())
        memory = plan_memory(
            saved, count, input_bytes, optimizer_bytes(self.method, self.config.optimizer),
            self.config.num_workers, free_memory(self.device), self.device,
        )  # fmt: skip
        self.memory_record, config = memory.record(), self.config
        if self.plan.batch_chosen:  # refused only where even all the free memory is too little
            fits = memory.largest_batch(share=1.0)
            if fits < config.batch_size:
                advice = f"--batch-size {fits} or less" if fits >= MIN_BATCH else "a smaller --input-size"
                raise UserError(f"{memory.describe(config.batch_size)}: use {advice}")
            return
        fits = memory.largest_batch()
        if fits >= config.batch_size:
            return
        if fits < MIN_BATCH:
            raise UserError(f"{memory.describe(config.batch_size)}: use a smaller --input-size")
        items_per_step = config.batch_size * config.accumulate
        accumulate = math.ceil(items_per_step / fits)
        micro = items_per_step // accumulate  # at most ``fits``, and never more items than the folder's
        self.config = self.plan.config = config.updated(batch_size=micro, accumulate=accumulate)
        self.opened.notes.append(
            f"memory: {memory.describe(config.batch_size)}; training batch {micro} x accumulate "
            f"{accumulate} instead ({micro * accumulate} items a step, the same lr)"
        )

    def _probe_views(self) -> tuple[list | None, int, float]:
        """The views of the first ``PROBE_ITEMS`` usable items, batched on the device, how many items
        they hold and the seconds an item took to decode and view; None when fewer than ``MIN_BATCH``
        decode."""
        samples, batch = [], collate([])
        started = time.perf_counter()
        for position in range(min(len(self.items), 4 * PROBE_ITEMS)):  # bad files are passed over
            samples.append(self.dataset[(0, position)])  # seeded per item: draws nothing global
            batch = collate(samples)
            if len(batch) == PROBE_ITEMS:
                break
        if len(batch) < MIN_BATCH:
            return None, 0, 0.0
        load_s = (time.perf_counter() - started) / len(samples)
        views = [{name: t.to(self.device) for name, t in view.items()} for view in batch.views]
        return channels_last_views(views), len(batch), load_s

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

    def _make_optimizer(self) -> torch.optim.Optimizer:
        params = [p for p in self.method.parameters() if p.requires_grad]
        if self.config.optimizer == "sgd":
            return torch.optim.SGD(
                params, lr=self.config.lr, momentum=0.9, weight_decay=self.config.weight_decay
            )
        return torch.optim.AdamW(params, lr=self.config.lr, weight_decay=self.config.weight_decay)

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
        saved_processes = self.opened.record.get("processes", 1)
        if saved_processes != self.world.size:
            raise UserError(
                f"{self.run_dir}: the run was trained by {saved_processes} process(es); resume it with "
                f"as many (torchrun --nnodes x --nproc_per_node = {saved_processes}), not {self.world.size}"
            )
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
            tracking = self._open_tracking()
        with tracking:  # closed as failed if training stops on an error
            self._train(metrics, tracking)
            return self._finish(tracking)

    def _warn(self, line: str) -> None:
        self.console.print(line, markup=False, highlight=False)

    def _open_tracking(self) -> Tracking:
        """The trackers of ``config.logger`` (rank 0), joining the run from the step it continues at."""
        private = self.plan.domain.identifying_paths
        config = self.config.to_dict()
        context = TrackingContext(
            run_name(config, private),
            tracking_params(config, self.plan.data_set, private),
            new_run=not self.resume,
            start_step=self.state.step,
        )
        return open_tracking(self.config.logger, self.run_dir, context, self._warn, strict=True)

    def _train(self, metrics: MetricsLog | None, tracking: Tracking) -> None:
        """The epochs left to train, logging each ``log_every``-th step (rank 0 only); progress every
        ``log_every_s`` seconds where stderr is not a terminal, after a line with the plan."""
        accumulate = self.config.accumulate
        micro_per_epoch = self.steps_per_epoch * accumulate
        self.console.out(self._plan_line(), highlight=False)
        with training_progress(self.console, self.config.log_every_s) as progress:
            task = progress.add_task(
                "pretrain",
                total=self.total_steps,
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
                    lr = warmup_cosine(self.state.step, self.total_steps, self.warmup_steps, self.config.lr)
                    self._optimizer_step(lr)
                    if self.step_timer is not None and self.step_timer.step_done():
                        self._plan_budget()
                        self.console.out(self.budget.describe(), highlight=False)
                    now = time.perf_counter()
                    rate = items_since / max(now - tick, 1e-9)
                    self.state.elapsed_s += now - tick
                    self.state.items_seen += items_since
                    tick, items_since = now, 0
                    progress.update(
                        task,
                        total=self.total_steps,  # planned anew by --time-budget
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
                        self.state.step % self.config.log_every == 0 or self.state.step == self.total_steps
                    )
                    if metrics is not None and (logged or scores):
                        row = {
                            "epoch": self.state.epoch,
                            "loss": self.state.last_loss,
                            "lr": lr,
                            "items_per_s": rate,
                            "elapsed_s": self.state.elapsed_s,
                            **self.last_logs,
                            **(dict.fromkeys(SCORE_COLUMNS, math.nan) if self.selection.active else {}),
                            **scores,
                        }
                        metrics.append(step=self.state.step, **row)
                        tracked = {k: v for k, v in row.items() if k not in SCORE_COLUMNS or k in scores}
                        tracking.log_metrics(self.state.step, {f"train/{k}": v for k, v in tracked.items()})
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
        if self.epoch_check is not None:
            self.epoch_check.epoch_starts(self.state.epoch)
        self.method.on_epoch_start(self._context())
        broadcast_module_state(self.method)  # what the hook drew, from rank 0's draw
        return True

    def _end_epoch(self) -> None:
        self.epoch_started = False
        self.state.epoch += 1
        self.state.batch_in_epoch = 0
        self.save()
        if self.epoch_check is not None and self.epoch_check.due(self.state.epoch):
            self._check_budget()
            self.console.out(self.budget.describe(), highlight=False)
        if self.on_epoch_end is not None:
            self.on_epoch_end(self.state, self.method)

    def _plan_line(self) -> str:
        """What training is about to do, on one line: items, batch, steps, epochs or budget, device and
        precision."""
        config = self.config
        batch = f"batch {config.batch_size}{self._times_processes()}"
        batch += f" x accumulate {config.accumulate}" if config.accumulate > 1 else ""
        if self.step_timer is not None:
            length = f"epochs to fit a {format_duration(config.time_budget_s)} time budget"
        else:
            plural = "" if config.epochs == 1 else "s"
            length = f"{config.epochs} epoch{plural} ({self.total_steps} steps)"
        resumed = f", resuming at step {self.state.step}" if self.state.step else ""
        return (
            f"pretrain: {len(self.items)} items, {batch}, {self.steps_per_epoch} steps an epoch, {length}"
            f"{resumed}, device {self.device}, {self._precision_name()}"
        )

    def _precision_name(self) -> str:
        return "bf16 autocast" if trains_in_bf16(self.device, self.config.precision) else "fp32"

    def _epoch_of_epochs(self) -> str:
        """``3/10``: the epoch being trained, counted from 1, and the epochs planned."""
        return f"{self.state.epoch + 1}/{self.config.epochs}"

    def _plan_budget(self) -> None:
        """Set the epochs (and so the schedule's length) that fit ``--time-budget`` (rank 0's plan on
        every rank) and record the plan in config.json."""
        plan = self.step_timer.plan(self.config.time_budget_s, self.steps_per_epoch)
        self.epoch_check = EpochCheck(self.step_timer.clock, self.step_timer.started)
        self.step_timer = None
        self._use_budget(plan)

    def _check_budget(self) -> None:
        """Plan the epochs left once more from the stretch of epochs just timed whole (``EpochCheck``)."""
        self._use_budget(self.epoch_check.check(self.budget, self.state.epoch))
        self.epoch_check.schedule(self.budget)  # from the plan every rank follows
        if self.epoch_check.finished:
            self.epoch_check = None

    def _use_budget(self, plan: BudgetPlan) -> None:
        """Train for rank 0's ``plan``: its epochs set the schedule's length; config.json records it."""
        plan = BudgetPlan(**{k: v for k, v in broadcast_json(plan.record()).items() if k != "fits"})
        self.budget = plan
        self.config = self.config.updated(epochs=plan.epochs)
        self.total_steps = self.steps_per_epoch * plan.epochs
        self.warmup_steps = warmup_steps(self.config.warmup_epochs, self.steps_per_epoch, self.total_steps)
        if self.world.is_main:
            record = self.opened.record
            write_run_record(
                self.run_dir, self.config, self.plan.data_set, list(record.get("resumes", [])),
                self.world.size, time_budget=plan.record(), init=self.init_record,
                memory=self.memory_record,
            )  # fmt: skip

    @property
    def _draws_each_epoch(self) -> bool:
        """Whether the method draws each epoch's items from weights its training sets (DeepCluster's
        clusters): then an epoch's batches are known only when it starts, and each gets its own loader."""
        return type(self.method).sampling_weights is not Method.sampling_weights

    def _batches_ahead(self) -> Iterator[list[tuple[int, int]]]:
        """This rank's micro-batches from the current one on: the rest of this epoch, then (unless the
        method draws each epoch) the next epochs', drawn as the loader asks for them, so that its workers
        decode across an epoch's end instead of the pipeline draining there (a set of a few batches an
        epoch drained every few steps). The budget may end the run sooner: what was decoded ahead is
        dropped."""
        epoch, first = self.state.epoch, self.state.batch_in_epoch
        micro_per_epoch = self.steps_per_epoch * self.config.accumulate
        while epoch < self.config.epochs:
            yield from self._epoch_batches(epoch)[first:micro_per_epoch]
            if self._draws_each_epoch:
                return
            epoch, first = epoch + 1, 0

    def _epoch_batches(self, epoch: int) -> list[list[tuple[int, int]]]:
        """This rank's micro-batches of ``epoch``: its slice of each global batch, whose order depends
        on the seed and epoch only, so that N ranks with batch B train on what one process with batch
        N x B would, and a resumed epoch replays it."""
        config, rank, size = self.config, self.world.rank, self.config.batch_size
        weights = self.method.sampling_weights()
        batches = epoch_batches(len(self.items), self.global_batch, config.seed, epoch, weights)
        return [batch[rank * size : (rank + 1) * size] for batch in batches]

    def _score_weights(self) -> dict[str, float]:
        """At a scoring point of ``--select`` (rank 0, the epoch's last step): the label-free scores of
        the backbone's embeddings of the scored subset, the weights kept when they are the best so far.
        The random state is restored after, so scoring leaves the training as it was."""
        if not self.world.is_main or not self.selection.due(self.state.epoch + 1, self.config.epochs):
            return {}
        backbone = self.method.backbone
        several = isinstance(backbone, torch.nn.ModuleDict)  # a clip and its sound: both encoders' features
        encoder = EveryInput(backbone) if several else backbone
        positions = scored_subset(range(len(self.items)), self.state.scored_items)
        with torch.random.fork_rng(devices=cuda_devices(self.device)):
            subset = [self.items[p] for p in positions]
            batches = feature_batches(
                encoder, self.plan.domain, subset, self.config.input_size, self.config.batch_size,
                self.device, self.skips, self.config.num_workers, whole_sample=several,
            )  # fmt: skip
            embeddings = torch.cat([features for kept, features, _ in batches if kept])  # (N, F)
            augmented = augmented_embeddings(
                encoder, self.dataset, lidar_positions(positions), self.plan.domain.batch_augment,
                self.device, self.config.batch_size,
            )  # fmt: skip  # (n, q, F)
        self.method.train()
        return self.selection.consider(self.state, embeddings, augmented, backbone, self._encoder_metadata())

    def _item_features(self) -> torch.Tensor:
        """Pooled backbone features (N, F) of every training item (eval transform, eval mode), on CPU.

        Under torchrun each rank embeds every ``size``-th item from its rank on; the rows are gathered
        so that every rank returns all N."""
        rank, size, count = self.world.rank, self.world.size, len(self.items)
        per_rank = -(-count // size)  # ceil: rank r holds items r, r + size, ...
        local = torch.zeros(per_rank, self.method.feature_dim)
        batches = feature_batches(
            self.method.backbone,
            self.plan.domain,
            self.items[rank::size],
            self.config.input_size,
            self.config.batch_size,
            self.device,
            self.skips,
            self.config.num_workers,
        )
        for positions, batch_features, _ in batches:
            local[positions] = batch_features
        self.method.train()
        gathered = gather_rows(local.to(self.device)).cpu()  # (size * per_rank, F), rank-major
        # row j of rank r is item r + size * j: read the gathered rows column-major
        by_item = gathered.view(size, per_rank, -1).transpose(0, 1).reshape(size * per_rank, -1)
        return by_item[:count]

    def _forward_backward(self, batch: Batch, accumulate: int) -> int:
        """Forward and backward one micro-batch; returns the items trained on (0: too few to learn
        from). Under torchrun every rank trains on as many items as the smallest batch holds (a bad
        file may have shortened one), so gathered tensors line up; the loss and logs recorded are
        the mean over ranks."""
        count = all_reduce_min(len(batch))
        if count < MIN_BATCH:
            return 0
        views = [  # each {"image": (B, C, H, W)} or the domain's inputs
            {name: t[:count].to(self.device, non_blocking=True) for name, t in view.items()}
            for view in batch.views
        ]
        with torch.no_grad():
            views = self.plan.domain.batch_augment(views)
        views = channels_last_views(views)
        indices = torch.tensor(batch.positions[:count], device=self.device)  # (B,)
        with self.autocast():
            output = self.model(views, self._context(indices))
        logs = [float(output.logs[name]) for name in self.method.log_names]
        recorded = all_reduce_mean(torch.tensor([output.loss.item(), *logs], dtype=torch.float64))
        loss = float(recorded[0])
        if not math.isfinite(loss):  # every rank sees the same mean, so all stop together
            raise NonFiniteLossError(
                f"step {self.state.step + 1}: loss is {loss}; stopped before the optimizer step. "
                f"Continue with a lower learning rate: sslcli pretrain --out {self.run_dir} --resume "
                f"--lr {self.config.lr / 10:.3g}"
            )
        (output.loss / accumulate).backward()
        self.state.last_loss = loss
        self.last_logs = dict(zip(self.method.log_names, recorded[1:].tolist(), strict=True))
        return count

    def _context(self, indices: torch.Tensor | None = None) -> StepContext:
        state = self.state
        return StepContext(
            state.step, self.total_steps, state.epoch, indices, self.world, features=self._item_features
        )

    def _optimizer_step(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.step += 1
        self.method.on_step_end(self._context())

    def _finish(self, tracking: Tracking) -> PretrainResult:
        self._gather_skips()
        if self.world.is_main:
            drawn = self._write_outputs()
            tracking.log_images({f"plots/{path.stem}": path for path in drawn}, self.state.step)
        return PretrainResult(
            self.run_dir,
            self.config,
            self.state,
            len(self.plan.items),
            self.plan.data_source,
            dict(self.skips.records),
            self.budget,
        )

    def _encoder_metadata(self) -> dict[str, str]:
        """What an encoder file records of the run (``encoder_file.ENCODER_METADATA_KEYS``)."""
        return {
            "backbone": self.config.backbone,
            "input_size": str(self.config.input_size),
            "domain": self.config.domain,
            "method": self.config.method,
            "feature_dim": str(self.method.feature_dim),
            "sslcli": sslcli.__version__,
        }

    def _write_outputs(self) -> list[Path]:
        """The encoder, the skip list, the loss plot and the method's pictures (rank 0); returns the
        pictures' paths."""
        from sslcli.reporting.plots import plot_loss, save_picture

        chosen = self.selection.write_encoders(self.state, self.method.backbone, self._encoder_metadata())
        if chosen is not None:
            self.console.print(chosen, markup=False, highlight=False)
        self.skips.write(self.run_dir / SKIPPED)
        loss_plot = self.run_dir / PLOTS / "loss.png"
        drawn = [loss_plot] if plot_loss(self.run_dir / METRICS, loss_plot) else []
        for name, picture in self.method.on_train_end(not self.plan.domain.identifying_paths).items():
            drawn.append(self.run_dir / PLOTS / f"{name}.png")
            save_picture(picture, drawn[-1])
        return drawn


def pretrain(
    config: PretrainConfig,
    resume: bool | ResumeRequest,
    console,
    clock: Callable[[], float] = time.perf_counter,
    on_epoch_end: Callable[[TrainState, Method], None] | None = None,
) -> PretrainResult:
    """Train ``config`` into ``config.out``; ``resume`` continues the run there (``True``: no option
    changes). ``on_epoch_end(state, method)`` runs on rank 0 after each epoch (e.g. a kNN probe).

    Alone, or as rank 0 under torchrun, the process holds an exclusive lock on the run directory,
    opens the run and writes what it starts from. Then rank 0 tells the other ranks the resolved
    config (or that it stopped), and they follow the run it opened: the run directory must be on a
    file system every rank sees. ``clock`` times the steps ``--time-budget`` plans from (tests
    inject one).
    """
    request = ResumeRequest() if resume is True else (resume or None)
    run_dir = Path(config.out)
    with (
        restored_thread_count(),
        signals_stop_training(current_world()),
        process_group(resolve_device(config.device)) as world,
    ):
        if not world.is_main:
            return _follow(config, request, console, world, clock)
        with exclusive(run_dir, "run directory"):
            clean_temp_files(run_dir)
            try:
                trainer = Trainer(open_run(config, request), console, world, clock)
                trainer.on_epoch_end = on_epoch_end
                trainer.begin()
            except BaseException:
                broadcast_json({"stopped": True})
                raise
            broadcast_json({"config": trainer.config.to_dict(), "resume": trainer.resume})
            return trainer.fit()


def _follow(
    config: PretrainConfig, request: ResumeRequest | None, console, world: World, clock: Callable[[], float]
) -> PretrainResult:
    """A rank other than 0: train the run rank 0 opened, with the config it resolved."""
    message = broadcast_json()
    if message.get("stopped"):
        raise PeerStopped("stopped: rank 0 could not start the run (its message says why)")
    trainer = Trainer(
        follow_run(config, request, message["config"], message["resume"]), console, world, clock
    )
    trainer.begin()
    return trainer.fit()
