"""Every chosen tracker behind one object; a tracker that fails is reported in one line and dropped,
so tracking never stops a run (nor an eval) whose own outputs are being written."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from sslcli.errors import UserError
from sslcli.tracking.base import Logger, TrackingContext
from sslcli.tracking.choice import check_installed


def _logger_class(name: str) -> type:
    if name == "tensorboard":
        from sslcli.tracking.tensorboard_logger import TensorBoardLogger

        return TensorBoardLogger
    if name == "mlflow":
        from sslcli.tracking.mlflow_logger import MlflowLogger

        return MlflowLogger
    from sslcli.tracking.wandb_logger import WandbLogger

    return WandbLogger


def _reason(err: BaseException) -> str:
    """``Type: first line of the message`` (trackers' errors can run over many lines)."""
    lines = str(err).strip().splitlines()
    text = f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__
    return text if len(text) <= 200 else text[:197] + "..."


class Tracking:
    """Fan-out to the open trackers; a context manager that closes them (``failed`` on an exception)."""

    def __init__(self, loggers: list[Logger], warn: Callable[[str], None]):
        self.loggers, self.warn = loggers, warn

    def _each(self, what: str, call: Callable[[Logger], None]) -> None:
        for logger in list(self.loggers):
            try:
                call(logger)
            except Exception as err:
                self.loggers.remove(logger)
                self.warn(f"warning: {logger.name} logger failed {what} ({_reason(err)}); it is off now")

    def log_metrics(self, step: int, values: Mapping[str, float]) -> None:
        self._each(f"at step {step}", lambda logger: logger.log_metrics(step, values))

    def log_images(self, images: Mapping[str, Path], step: int) -> None:
        """``images``: tag -> PNG path."""
        for tag, path in images.items():
            self._each(f"logging {tag}", lambda logger, tag=tag, path=path: logger.log_image(tag, path, step))

    def close(self, failed: bool = False) -> None:
        self._each("closing", lambda logger: logger.close(failed))
        self.loggers = []

    def __enter__(self) -> Tracking:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        self.close(failed=exc_type is not None)


def open_tracking(
    names: Iterable[str], run_dir: Path, context: TrackingContext, warn: Callable[[str], None], strict: bool
) -> Tracking:
    """Open the trackers ``names``. ``strict`` (pretrain): a missing package or a tracker that cannot
    start stops with one line before training; otherwise (eval) it is reported with ``warn`` and left out."""
    loggers: list[Logger] = []
    for name in dict.fromkeys(names):
        try:
            check_installed([name])
            loggers.append(_logger_class(name)(run_dir, context))
        except Exception as err:
            if isinstance(err, UserError):
                message = str(err)
            else:
                message = f"{name} logger: cannot start ({_reason(err)})"
            if strict:
                Tracking(loggers, warn).close(failed=True)
                raise UserError(message) from None
            warn(f"warning: {message}; not logged there")
    return Tracking(loggers, warn)
