"""A run made ready to train, and what writes and restores its state.

Built once per process from an opened (or followed) run: the method around fresh backbones (with
``--init`` weights), the usable items (``items``), the batch fitted to the data, the time budget and
the device (``batch_fit``), the optimizer, the domain's views, the schedule (``run_schedule``) and the
``--select`` scorer. Its state goes to config.json (``start``, ``follow_budget``) and to checkpoints
(``save``, ``restore``); the training loop (``trainer``) reads it and never the other way round."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import torch

from sslcli.data.datasets import ViewDataset
from sslcli.data.skips import SkipLog
from sslcli.distributed import World, all_gather_json, local_device
from sslcli.engine.acceleration import channels_last_convolutions, training_autocast
from sslcli.engine.batch_fit import BatchFit
from sslcli.engine.checkpoint import (
    apply_rng_state,
    check_processes,
    restore_training_state,
    save_training_state,
)
from sslcli.engine.init_weights import InitReport, load_init
from sslcli.engine.items import usable_items
from sslcli.engine.opening import OpenedRun
from sslcli.engine.run_record import write_run_record
from sslcli.engine.run_schedule import RunSchedule
from sslcli.engine.selection import Selection
from sslcli.engine.setup import build_method, describe_root, resolve_device
from sslcli.engine.step import make_optimizer
from sslcli.engine.time_budget import BudgetPlan
from sslcli.engine.train_state import TrainState
from sslcli.errors import UserError
from sslcli.methods import Method
from sslcli.run_dir import CHECKPOINT, SKIPPED
from sslcli.tracking.choice import check_installed


class PreparedRun:
    """Everything a run trains with, ready; ``config`` is the resolved config with the batch, lr and
    epochs the run settled on."""

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
        self.method: Method = build_method(self.config, self.plan.domain, self._load_init).to(self.device)
        self.init_record = self.init_report.record() if self.init_report else opened.record.get("init")
        channels_last_convolutions(self.method)
        self.state = TrainState()
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
            view_fn = self.plan.domain.views(self.method.family, config.input_size)
        except (TypeError, ValueError) as err:
            raise UserError(f"view options: {err}") from None
        self.dataset = ViewDataset(self.plan.domain, self.items, view_fn, config.seed)
        if not self.resume and self.world.is_main:  # the other ranks take rank 0's batch
            fit.to_device(self.method, self.dataset, len(self.items), self.device, self.autocast)
        self.config = fit.config  # the run's from here on (the plan keeps what planning resolved)
        opened.notes.extend(fit.notes)
        # how the step's memory was planned (config.json): a resumed run's as recorded, a new run's fit
        self.memory_record = fit.memory_record or opened.record.get("memory")
        if fit.scored_items is not None:
            self.state.scored_items = fit.scored_items
        micro_per_epoch = len(self.items) // self.global_batch
        self.steps_per_epoch = micro_per_epoch // self.config.accumulate
        if self.steps_per_epoch == 0:
            raise UserError(
                f"{where}: {len(self.items)} usable items are fewer than one step of batch size "
                f"{self.config.batch_size} x accumulate {self.config.accumulate}{fit.times_processes()}"
            )
        planning = self.config.time_budget_s is not None and not self.resume
        if planning and fit.step_estimate is not None:  # until the budget is planned from real steps
            self.config = self.config.updated(epochs=max(1, round(fit.step_estimate / self.steps_per_epoch)))
        budget_s = self.config.time_budget_s if planning else None
        self.schedule = RunSchedule(
            self.config.epochs, self.steps_per_epoch, self.config.warmup_epochs, budget_s, clock
        )
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

    def gather_skips(self) -> None:
        """Every rank's bad files into this rank's skip log (a collective: every rank calls it)."""
        if not self.world.alone:
            for records in all_gather_json(self.skips.records):
                self.skips.records.update(records)

    def save(self) -> None:
        self.gather_skips()
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

    def autocast(self) -> contextlib.AbstractContextManager:
        return training_autocast(self.device, self.config.precision)

    def begin(self) -> None:
        """Restore the checkpoint of a resumed run, then write what the run starts from."""
        if self.resume:
            self.restore()
        self.start()

    def follow_budget(self, plan: BudgetPlan) -> None:
        """Train for the epochs of a new ``--time-budget`` plan; config.json records it (rank 0)."""
        self.config = self.config.updated(epochs=plan.epochs)
        if self.world.is_main:
            record = self.opened.record
            write_run_record(
                self.run_dir, self.config, self.plan.data_set, list(record.get("resumes", [])),
                self.world.size, time_budget=plan.record(), init=self.init_record,
                memory=self.memory_record,
            )  # fmt: skip
