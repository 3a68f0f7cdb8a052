"""The ``--logger`` option: which trackers a run logs to (parsed without importing any of them)."""

from __future__ import annotations

from collections.abc import Iterable

from sslcli.errors import UserError

TRACKERS = ("tensorboard", "mlflow", "wandb")
DEFAULT_TRACKERS = ["tensorboard"]
EXTRA_HINT = 'pip install "sslcli[tracking]"'
# tracker -> (the module it needs, how to install it)
PACKAGES = {
    "tensorboard": ("tensorboard", "pip install tensorboard"),
    "mlflow": ("mlflow", EXTRA_HINT),
    "wandb": ("wandb", EXTRA_HINT),
}


def parse_logger_option(values: Iterable[str]) -> list[str]:
    """``--logger`` values (repeatable, each maybe comma-separated) -> tracker names in the order
    given, without repeats; ``none`` alone -> ``[]`` (no tracking, not even TensorBoard)."""
    names = [part.strip().lower() for value in values for part in value.split(",") if part.strip()]
    if names == ["none"]:
        return []
    if "none" in names:
        raise UserError("--logger none turns every tracker off; it cannot be combined with others")
    unknown = sorted(set(names) - set(TRACKERS))
    if unknown or not names:
        shown = ", ".join(unknown) or "nothing"
        raise UserError(f"--logger: unknown tracker {shown} (choose from {', '.join(TRACKERS)}, or none)")
    return list(dict.fromkeys(names))


def check_installed(trackers: Iterable[str]) -> None:
    """Import each tracker's package now, so a missing one stops the run before it starts, in one line."""
    import importlib

    for name in trackers:
        module, hint = PACKAGES[name]
        try:
            importlib.import_module(module)
        except ImportError:
            raise UserError(f"--logger {name} needs the {module} package: {hint}") from None
