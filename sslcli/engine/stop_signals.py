"""SIGTERM and SIGHUP during training become one line instead of a silent death: torchrun's agent
sends SIGTERM to every surviving rank once one fails, and batch schedulers (SLURM, Kubernetes) send it
before they stop or preempt a job. The signal raises ``StoppedBySignal`` in the main thread, so the
run stops like any other error: temp files and the lock are released, the last checkpoint stays,
and the message says how to continue."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

from sslcli.distributed import World

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class StoppedBySignal(BaseException):
    """Stop signal ``number`` arrived during training; ``str(err)`` is the one line to show.

    A ``BaseException``, as ``KeyboardInterrupt`` is: the signal may land inside any ``except
    Exception`` (an item's decode, which turns failures into bad items), and must still stop the run.
    """

    def __init__(self, message: str, number: int):
        super().__init__(message)
        self.number = number


def stop_message(world: World, name: str) -> str:
    """``stopped by SIGTERM``, prefixed with the rank under torchrun; rank 0 adds how to continue."""
    where = "" if world.alone else f"rank {world.rank}: "
    message = f"{where}stopped by {name}"
    if world.is_main:
        message += "; the run continues from its last checkpoint with --resume"
    return message


@contextlib.contextmanager
def signals_stop_training(world: World) -> Iterator[None]:
    """For the duration, ``STOP_SIGNALS`` raise ``StoppedBySignal`` in this process (main thread only:
    elsewhere Python cannot install handlers, and the process keeps the handlers it has); the loader
    workers it forks inherit the handler and end on the signal as before."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    training_pid = os.getpid()

    def stop(number: int, frame) -> None:
        if os.getpid() != training_pid:  # a forked loader worker: dies as it would have, quietly
            signal.signal(number, signal.SIG_DFL)
            os.kill(os.getpid(), number)
        raise StoppedBySignal(stop_message(world, signal.Signals(number).name), number)

    previous = {number: signal.signal(number, stop) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
