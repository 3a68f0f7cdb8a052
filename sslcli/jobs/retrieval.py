"""``sslcli eval`` of a run with one encoder per input (a clip and its sound): cross-modal retrieval.

Each held-out item's inputs (the eval window: the middle ``clip_s`` seconds) are embedded into the
method's shared space (``Method.embed``) by the trained network and by the same network at its
random initialisation; for every ordered pair of inputs, each item's embedding of one ranks the
other input's embeddings of every item (``sslcli.scoring.retrieval``: recall@1, recall@5, median
rank, chance). The trained projection heads come from the run's last checkpoint, which holds the
whole method; ``encoder.safetensors`` holds the encoders only.
"""

from __future__ import annotations

import json
from itertools import permutations

import torch

from sslcli.data.skips import SkipLog
from sslcli.engine.checkpoint import load_checkpoint
from sslcli.engine.features import SideBySide, feature_batches
from sslcli.engine.setup import (
    build_method,
    builtin_sample,
    describe_root,
    discover_items,
    resolve_device,
)
from sslcli.errors import UserError
from sslcli.jobs.encoder import TrainedRun
from sslcli.methods import Method
from sslcli.reporting.progress import item_progress
from sslcli.run_dir import CHECKPOINT, ENCODER, write_text_atomic
from sslcli.scoring.retrieval import retrieval_scores


class SharedSpace(torch.nn.Module):
    """A sample of several inputs -> their embeddings in the method's shared space, side by side
    (B, n_inputs * P) in the method's input order."""

    def __init__(self, method: Method):
        super().__init__()
        self.method = method

    def forward(self, sample: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat(list(self.method.embed(sample).values()), dim=1)


def trained_and_initial(options, run: TrainedRun) -> dict[str, Method]:
    """The run's method with its trained weights, and at its initial ones (same seed), in eval mode."""
    if not (options.run_dir / ENCODER).is_file():  # the checkpoint of an unfinished run is mid-training
        raise UserError(
            f"{options.run_dir}: no encoder.safetensors (is pretraining finished? resume it with --resume)"
        )
    path = options.run_dir / CHECKPOINT
    if not path.is_file():
        raise UserError(f"{options.run_dir}: no checkpoint holding the projection heads ({CHECKPOINT})")
    config = run.config
    trained, initial = build_method(config, run.domain), build_method(config, run.domain)
    try:
        trained.load_state_dict(load_checkpoint(path)["method"])
    except (KeyError, RuntimeError) as err:
        raise UserError(f"{path}: does not fit this run's {config.method} ({type(err).__name__})") from None
    return {"pretrained": trained.eval(), "random_init": initial.eval()}


def evaluate_retrieval(options, run: TrainedRun, console) -> dict:
    """Cross-modal retrieval among the items of ``--test-data`` or ``--data`` (labels not needed),
    else the built-in sample's test split; writes and returns the report."""
    config, domain = run.config, run.domain
    root = options.test_data or options.data or builtin_sample(domain)[1]
    items = discover_items(domain, root)
    methods = trained_and_initial(options, run)
    names = list(domain.inputs(config.input_size))
    skips = SkipLog(options.on_error, root)
    rows: list[torch.Tensor] = []
    with item_progress(console) as progress:
        task = progress.add_task("pairs", total=len(items))
        spaces = SideBySide({which: SharedSpace(method) for which, method in methods.items()})
        batches = feature_batches(
            spaces, domain, items, config.input_size, options.batch_size, resolve_device(options.device),
            skips, whole_sample=True,
        )  # fmt: skip
        for kept, features, consumed in batches:
            rows += [features] if kept else []
            progress.update(task, advance=consumed)
    if not rows:
        raise UserError(f"{describe_root(domain, root)}: no item could be read")
    by_method = spaces.split(torch.cat(rows))  # each (N, n_inputs * P)
    report: dict = {
        "run": str(options.run_dir),
        "method": config.method,
        "domain": config.domain,
        "pairs": len(by_method["pretrained"]),
        "skipped": len(skips.records),
    }
    for which, space in by_method.items():
        by_input = dict(zip(names, space.chunk(len(names), dim=1), strict=True))  # each (N, P)
        report[which] = {
            f"{query} -> {key}": retrieval_scores(by_input[query], by_input[key])
            for query, key in permutations(names, 2)
        }
    report["skipped_files"] = dict(sorted(skips.records.items()))
    write_text_atomic(options.run_dir / "eval.json", json.dumps(report, indent=2))
    return report
