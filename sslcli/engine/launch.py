"""Launch a pretraining run: the lock on the run directory, opening (or following) the run, and the
rank-0 handshake under torchrun, then the trainer."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from sslcli.config import PretrainConfig
from sslcli.distributed import PeerStopped, World, broadcast_json, current_world, process_group
from sslcli.engine.opening import ResumeRequest, follow_run, open_run
from sslcli.engine.run_setup import PreparedRun
from sslcli.engine.setup import resolve_device
from sslcli.engine.stop_signals import signals_stop_training
from sslcli.engine.threads import restored_thread_count
from sslcli.engine.trainer import PretrainResult, Trainer, TrainState
from sslcli.methods import Method
from sslcli.run_dir import clean_temp_files, exclusive


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
            return follow(config, request, console, world, clock)
        with exclusive(run_dir, "run directory"):
            clean_temp_files(run_dir)
            try:
                trainer = Trainer(PreparedRun(open_run(config, request), console, world, clock))
                trainer.on_epoch_end = on_epoch_end
                trainer.begin()
            except BaseException:
                broadcast_json({"stopped": True})
                raise
            broadcast_json({"config": trainer.run.config.to_dict(), "resume": trainer.run.resume})
            return trainer.fit()


def follow(
    config: PretrainConfig, request: ResumeRequest | None, console, world: World, clock: Callable[[], float]
) -> PretrainResult:
    """A rank other than 0: train the run rank 0 opened, with the config it resolved."""
    message = broadcast_json()
    if message.get("stopped"):
        raise PeerStopped("stopped: rank 0 could not start the run (its message says why)")
    opened = follow_run(config, request, message["config"], message["resume"])
    trainer = Trainer(PreparedRun(opened, console, world, clock))
    trainer.begin()
    return trainer.fit()
