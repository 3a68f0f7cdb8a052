"""``RUN_DIR/config.json``: the resolved config, the data set the run trained on and what each
``--resume`` changed.

The data set is recorded as its source (``builtin``, ``folder`` or ``private folder``), its item
count and a SHA-256 of its item ids; a private folder (a domain whose paths may identify patients)
is recorded by a keyed fingerprint of its path instead of the path itself.
"""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path
from typing import Any

import torch

import sslcli
from sslcli.config import PretrainConfig
from sslcli.domains import Item
from sslcli.errors import UserError
from sslcli.run_dir import CONFIG, write_text_atomic


def ids_fingerprint(items: list[Item]) -> str:
    """SHA-256 of the item ids in order (ids are safe to write; private domains hash them)."""
    return hashlib.sha256("\n".join(item.item_id for item in items).encode()).hexdigest()


def data_set_record(source: str, items: list[Item], root_fingerprint: str | None) -> dict[str, Any]:
    record = {"source": source, "items": len(items), "ids_sha256": ids_fingerprint(items)}
    if root_fingerprint is not None:
        record["root_fingerprint"] = root_fingerprint
    return record


def recorded_config(config: PretrainConfig) -> dict[str, Any]:
    """The config as config.json keeps it: ``init`` by its file name only (a path may name a person)."""
    values = config.to_dict()
    if values["init"] is not None:
        values["init"] = Path(values["init"]).name
    return values


def write_run_record(
    run_dir: Path,
    config: PretrainConfig,
    data_set: dict[str, Any],
    resumes: list[dict[str, Any]],
    processes: int = 1,
    time_budget: dict[str, Any] | None = None,
    init: dict[str, Any] | None = None,
    memory: dict[str, Any] | None = None,
) -> None:
    """``processes``: how many ranks train the run (a resume must use as many); ``time_budget``: how
    ``--time-budget`` planned the epochs (``engine.time_budget.BudgetPlan.record``); ``init``: what
    ``--init`` loaded (``engine.init_weights.InitReport.record``); ``memory``: the step's memory as
    planned (``engine.memory_plan.MemoryPlan.record``)."""
    versions = {"sslcli": sslcli.__version__, "torch": torch.__version__, "python": platform.python_version()}
    payload = {
        "config": recorded_config(config),
        "data_set": data_set,
        "processes": processes,
        "resumes": resumes,
        "versions": versions,
    }
    if time_budget is not None:
        payload["time_budget"] = time_budget
    if init is not None:
        payload["init"] = init
    if memory is not None:
        payload["memory"] = memory
    write_text_atomic(run_dir / CONFIG, json.dumps(payload, indent=2) + "\n")


def read_run_record(run_dir: Path) -> dict[str, Any]:
    """The whole ``config.json`` payload (``load_run_config`` validates its ``config`` part)."""
    path = run_dir / CONFIG
    try:
        payload = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: unreadable run config ({type(err).__name__})") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("data_set", {}), dict):
        raise UserError(f"{path}: unreadable run config (unexpected structure)")
    return payload


def check_same_data(saved: dict[str, Any], current: dict[str, Any], allow_change: bool) -> None:
    """Refuse to resume on another data set (another private root, or other items) unless allowed."""
    if allow_change or not saved:
        return
    if saved.get("root_fingerprint") != current.get("root_fingerprint"):
        raise UserError(
            "--data: not the folder this run was trained on (its fingerprint differs); pass the same "
            "folder, or --allow-data-change to continue on this one"
        )
    if (saved.get("items"), saved.get("ids_sha256")) != (current["items"], current["ids_sha256"]):
        raise UserError(
            f"--data: the data set changed since the run started ({saved.get('items')} items then, "
            f"{current['items']} now, ids differ); pass --allow-data-change to continue on the new set"
        )
