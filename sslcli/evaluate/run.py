"""``sslcli eval``: features of labelled data from the trained encoder and its random-init twin,
kNN and linear-probe accuracy for both, collapse indicators and a 2-D map of the test embeddings."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sslcli.data import SkipLog
from sslcli.domains import Domain, Item
from sslcli.encoder import load_encoder, random_init_encoder
from sslcli.engine.checkpoint import atomic_write
from sslcli.engine.setup import discover_items, lookup_domain, resolve_device
from sslcli.errors import UserError
from sslcli.evaluate.collapse import collapse_report
from sslcli.evaluate.knn import knn_predict
from sslcli.evaluate.linear import linear_probe_predict
from sslcli.evaluate.split import stratified_split
from sslcli.features import feature_batches
from sslcli.labels import attach_labels
from sslcli.progress import item_progress


@dataclass
class EvalOptions:
    run_dir: Path
    data: Path | None = None
    test_data: Path | None = None
    protocol: str = "all"  # knn | linear | all
    k: int = 20
    temperature: float = 0.1
    test_fraction: float = 0.2
    batch_size: int = 256
    device: str = "auto"
    on_error: str = "raise"
    label_attr: str | None = None  # label items by this attribute (e.g. DICOM Modality) instead of folders


def labelled_items(domain: Domain, root: Path, label_attr: str | None = None) -> list[Item]:
    labelled = attach_labels(root, discover_items(domain, root), domain, label_attr)
    items = [item for item in labelled if item.label is not None]
    if not items:
        how = f"no item has {label_attr}" if label_attr else "use class folders or a labels.csv"
        raise UserError(f"{root}: no labelled items ({how})")
    return items


def split_items(domain: Domain, options: EvalOptions) -> tuple[list[Item], list[Item], list[Path]]:
    """(train, test) labelled items and the data roots they came from."""
    if options.data is None:
        sample = domain.builtin_sample()
        if sample is None:
            raise UserError(f"domain {domain.name!r} has no built-in sample; pass --data")
        train_root, test_root = sample
    else:
        train_root, test_root = options.data, options.test_data
    train = labelled_items(domain, train_root, options.label_attr)
    if test_root is not None:
        return train, labelled_items(domain, test_root, options.label_attr), [train_root, test_root]
    train_idx, test_idx = stratified_split([item.label for item in train], options.test_fraction)
    if not test_idx:
        raise UserError(f"{train_root}: too few items per class for a held-out split; pass --test-data")
    return [train[i] for i in train_idx], [train[i] for i in test_idx], [train_root]


def extract(
    encoder, domain, items, input_size, options, device, skips, progress, name
) -> tuple[torch.Tensor, list[int]]:
    """Features (n, F) of the items that decoded, and their positions in ``items``."""
    task = progress.add_task(name, total=len(items), rate=0.0)
    features, positions = [], []
    started = time.perf_counter()
    for kept, batch_features, consumed in feature_batches(
        encoder, domain, items, input_size, options.batch_size, device, skips
    ):
        positions += kept
        if kept:
            features.append(batch_features)
        done = progress.tasks[task].completed + consumed
        progress.update(task, completed=done, rate=done / max(time.perf_counter() - started, 1e-9))
    if not features:
        raise UserError(f"{name}: no item could be read")
    return torch.cat(features), positions


def accuracy(predicted: torch.Tensor, truth: torch.Tensor) -> float:
    return (predicted == truth).float().mean().item()


def evaluate_run(options: EvalOptions, console) -> dict:
    if options.protocol not in ("knn", "linear", "all"):
        raise UserError(f"--protocol must be knn, linear or all, got {options.protocol!r}")
    trained, config, _ = load_encoder(options.run_dir)
    domain = lookup_domain(config.domain)
    domain.bind_run(options.run_dir, config.views, create=False)
    device = resolve_device(options.device)
    train_items, test_items, roots = split_items(domain, options)
    train_skips, test_skips = SkipLog(options.on_error, roots[0]), SkipLog(options.on_error, roots[-1])
    encoders = {"pretrained": trained, "random_init": random_init_encoder(config)}
    features: dict[str, dict[str, torch.Tensor]] = {}
    with item_progress(console) as progress:
        for which, encoder in encoders.items():
            train_feats, train_pos = extract(
                encoder,
                domain,
                train_items,
                config.input_size,
                options,
                device,
                train_skips,
                progress,
                f"{which} train",
            )
            test_feats, test_pos = extract(
                encoder,
                domain,
                test_items,
                config.input_size,
                options,
                device,
                test_skips,
                progress,
                f"{which} test",
            )
            features[which] = {"train": train_feats, "test": test_feats}
    classes = sorted({item.label for item in train_items})
    class_index = {name: i for i, name in enumerate(classes)}
    train_y = torch.tensor([class_index[train_items[p].label] for p in train_pos])
    test_known = [i for i, p in enumerate(test_pos) if test_items[p].label in class_index]
    test_y = torch.tensor([class_index[test_items[test_pos[i]].label] for i in test_known])
    report: dict = {
        "run": str(options.run_dir),
        "method": config.method,
        "domain": config.domain,
        "n_train": len(train_pos),
        "n_test": len(test_known),
        "classes": len(classes),
        "skipped": len(train_skips.records) + len(test_skips.records),
    }
    for which in encoders:
        train_x, test_x = features[which]["train"], features[which]["test"][test_known]
        scores = report.setdefault(which, {})
        if options.protocol in ("knn", "all"):
            scores["knn"] = accuracy(
                knn_predict(train_x, train_y, test_x, len(classes), options.k, options.temperature), test_y
            )
        if options.protocol in ("linear", "all"):
            scores["linear"] = accuracy(linear_probe_predict(train_x, train_y, test_x, len(classes)), test_y)
        scores["collapse"] = collapse_report(test_x)
    report["knn_params"] = {"k": options.k, "T": options.temperature}
    report["embedding_map"] = draw_map(
        features["pretrained"]["test"][test_known],
        [test_items[test_pos[i]].label for i in test_known],
        options.run_dir,
        config,
    )
    report["skipped_files"] = dict(sorted({**train_skips.records, **test_skips.records}.items()))
    atomic_write(
        options.run_dir / "eval.json", lambda tmp: Path(tmp).write_text(json.dumps(report, indent=2))
    )
    return report


def draw_map(test_x: torch.Tensor, labels: list[str], run_dir: Path, config) -> str | None:
    """t-SNE (van der Maaten & Hinton 2008) of the test embeddings, coloured by label."""
    from sklearn.manifold import TSNE

    from sslcli.plots import plot_embedding_map

    if test_x.shape[0] < 5:
        return None
    x = torch.nn.functional.normalize(test_x, dim=1).numpy().astype(np.float64)
    perplexity = min(30.0, (x.shape[0] - 1) / 3)
    points = TSNE(2, perplexity=perplexity, init="pca", random_state=0).fit_transform(x)
    out = run_dir / "plots" / "embedding_map.png"
    plot_embedding_map(points, labels, f"{config.method} on {config.domain}: test embeddings (t-SNE)", out)
    return str(out)
