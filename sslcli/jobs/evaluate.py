"""``sslcli eval``: features of labelled data from the trained encoder and its random-init twin,
kNN and linear-probe accuracy for both, collapse indicators and a 2-D map of the test embeddings;
for a run with one encoder per input and no ``--input``, cross-modal retrieval (``retrieval``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sslcli.data.labels import attach_labels, shown_labels
from sslcli.data.skips import SkipLog
from sslcli.domains import Domain, Item
from sslcli.engine.features import SideBySide, feature_batches
from sslcli.engine.setup import (
    builtin_sample,
    describe_root,
    discover_items,
    resolve_device,
)
from sslcli.engine.threads import restored_thread_count
from sslcli.errors import UserError
from sslcli.jobs.encoder import TrainedRun, open_trained_run, random_init_encoder, trained_encoder
from sslcli.jobs.retrieval import evaluate_retrieval
from sslcli.metrics_csv import read_metrics
from sslcli.reporting.progress import item_progress, stage_progress
from sslcli.run_dir import METRICS, exclusive, write_text_atomic
from sslcli.scoring.collapse import collapse_report
from sslcli.scoring.knn import knn_predict
from sslcli.scoring.label_efficiency import Classifier, label_efficiency
from sslcli.scoring.linear import chosen_weight_decay, linear_probe_predict
from sslcli.scoring.paired import paired_report
from sslcli.scoring.raw_input import RawInput
from sslcli.scoring.split import stratified_split
from sslcli.tracking.eval_results import log_eval


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
    folder_labels: bool = False  # private domains: the user opts in to sub-folder names as labels
    input_name: str | None = None  # the input whose encoder is scored, where the run has one per input
    threads: int | None = None  # CPU threads; None: the run's recorded count, else torch's default


def labelled_items(
    domain: Domain, root: Path, label_attr: str | None = None, folder_labels: bool = False
) -> list[Item]:
    """Labelled items under ``root``: sub-folder names are labels only where paths identify nobody,
    or where the user opted in (``folder_labels``, ``--folder-labels``)."""
    use_folders = folder_labels or not domain.identifying_paths
    labelled = attach_labels(root, discover_items(domain, root), domain, label_attr, use_folders)
    items = [item for item in labelled if item.label is not None]
    if not items:
        hint = how_to_label(domain, label_attr, use_folders)
        raise UserError(f"{describe_root(domain, root)}: no labelled items ({hint})")
    return items


def how_to_label(domain: Domain, label_attr: str | None, use_folders: bool) -> str:
    if label_attr:
        return f"no item has {label_attr}"
    if not use_folders:
        return (
            "sub-folder names may identify patients and are not used as labels: pass --label-attr "
            "(e.g. Modality), a labels.csv, or --folder-labels to opt in"
        )
    return "use class folders or a labels.csv"


def split_items(domain: Domain, options: EvalOptions) -> tuple[list[Item], list[Item], list[Path]]:
    """(train, test) labelled items and the data roots they came from. A built-in sample's folders are
    the labels sslcli wrote there (the medical sample's are Modality values), never a user's folders."""
    if options.data is None:
        (train_root, test_root), folder_labels = builtin_sample(domain), True
    else:
        (train_root, test_root), folder_labels = (options.data, options.test_data), options.folder_labels
    train = labelled_items(domain, train_root, options.label_attr, folder_labels)
    if test_root is not None:
        test = labelled_items(domain, test_root, options.label_attr, folder_labels)
        return train, test, [train_root, test_root]
    train_idx, test_idx = stratified_split([item.label for item in train], options.test_fraction)
    if not test_idx:
        raise UserError(
            f"{describe_root(domain, train_root)}: too few items per class for a held-out split; "
            "pass --test-data"
        )
    return [train[i] for i in train_idx], [train[i] for i in test_idx], [train_root]


def extract(encoder, domain, items, config, options, device, skips, progress, name):
    """Features (n, F) of the items that decoded, and their positions in ``items``."""
    encoders = ", ".join(which.replace("_input", "").replace("_", " ") for which in encoder.encoders)
    task = progress.add_task(f"{name}: {encoders}", total=len(items))  # "train: pretrained, random init, raw"
    features, positions = [], []
    batches = feature_batches(
        encoder, domain, items, config.input_size, options.batch_size, device, skips,
        input_name=options.input_name,
    )  # fmt: skip
    for kept, batch_features, consumed in batches:
        positions += kept
        if kept:
            features.append(batch_features)
        progress.update(task, advance=consumed)
    if not features:
        raise UserError(f"{name}: no item could be read")
    return torch.cat(features), positions


def classifiers(num_classes: int, options: EvalOptions, weight_decay: float | None) -> dict[str, Classifier]:
    """The protocols ``options`` asks for, each (train_x, train_y, test_x) -> predicted test classes;
    the linear probe with ``weight_decay``."""
    chosen: dict[str, Classifier] = {}
    if options.protocol in ("knn", "all"):
        chosen["knn"] = lambda x, y, q: knn_predict(x, y, q, num_classes, options.k, options.temperature)
    if weight_decay is not None:
        chosen["linear"] = lambda x, y, q: linear_probe_predict(x, y, q, num_classes, weight_decay)
    return chosen


def score(
    train_x, train_y, test_x, test_y, num_classes: int, options: EvalOptions
) -> tuple[dict, dict[str, torch.Tensor]]:
    """kNN and/or linear-probe accuracy, collapse indicators and the label-efficiency curve of one
    encoder's features, and each protocol's test predictions (M,) with every label. The probe's L2
    weight is cross-validated once, on every training label, and kept for each point of the curve."""
    weight_decay = None
    if options.protocol in ("linear", "all"):
        weight_decay = chosen_weight_decay(train_x, train_y, num_classes)
    protocols = classifiers(num_classes, options, weight_decay)
    predictions = {name: classify(train_x, train_y, test_x) for name, classify in protocols.items()}
    curve = label_efficiency(train_x, train_y, test_x, test_y, protocols, full=predictions)
    scores: dict = {name: curve[name]["mean"][-1] for name in protocols}  # the curve's every-label point
    if weight_decay is not None:
        scores["linear_weight_decay"] = weight_decay
    return scores | {"collapse": collapse_report(test_x), "label_efficiency": curve}, predictions


def evaluate_run(options: EvalOptions, console) -> dict:
    """Score the run's encoder beside its random init; holds the run directory's lock, since it writes
    ``eval.json`` and plots there (a pretrain or another eval on it is refused with one line)."""
    if options.protocol not in ("knn", "linear", "all"):
        raise UserError(f"--protocol must be knn, linear or all, got {options.protocol!r}")
    if not options.run_dir.is_dir():
        raise UserError(f"{options.run_dir}: run directory not found")
    with restored_thread_count(), exclusive(options.run_dir, "run directory", advice="wait for it"):
        return evaluate_locked(options, console)


def evaluate_locked(options: EvalOptions, console) -> dict:
    """The report (written to ``eval.json``), also added to the run's experiment trackers."""
    run = open_trained_run(options.run_dir)
    config = run.config
    threads = options.threads or config.threads or torch.get_num_threads()
    torch.set_num_threads(threads)  # the features and the linear probe depend on it, as training did
    if options.input_name is None and len(run.domain.inputs(config.input_size)) > 1:  # a clip and its sound
        report = evaluate_retrieval(options, run, console)
    else:
        report = evaluate_encoder(options, run, console)
    private = run.domain.identifying_paths

    def warn(line: str) -> None:
        console.print(line, markup=False, highlight=False)

    log_eval(options.run_dir, config, report, last_step(options.run_dir), private, warn)
    return report


def last_step(run_dir: Path) -> int:
    """The run's last logged optimizer step (0 if metrics.csv has none)."""
    path = run_dir / METRICS
    rows = read_metrics(path) if path.is_file() else []
    return int(rows[-1]["step"]) if rows else 0


def evaluate_encoder(options: EvalOptions, run: TrainedRun, console) -> dict:
    """kNN / linear probe of one encoder beside its random init and the raw input."""
    config, domain = run.config, run.domain
    trained, _ = trained_encoder(run, options.input_name)
    device = resolve_device(options.device)
    train_items, test_items, roots = split_items(domain, options)
    train_skips, test_skips = SkipLog(options.on_error, roots[0]), SkipLog(options.on_error, roots[-1])
    random_init = random_init_encoder(run, options.input_name)
    both = SideBySide({"pretrained": trained, "random_init": random_init, "raw_input": RawInput()})
    with item_progress(console) as progress:  # each file is decoded once for every encoder
        train_x, train_pos = extract(
            both, domain, train_items, config, options, device, train_skips, progress, "train"
        )
        test_x, test_pos = extract(
            both, domain, test_items, config, options, device, test_skips, progress, "test"
        )
    classes = sorted({train_items[p].label for p in train_pos})
    class_index = {name: i for i, name in enumerate(classes)}
    train_y = torch.tensor([class_index[train_items[p].label] for p in train_pos])
    known = [i for i, p in enumerate(test_pos) if test_items[p].label in class_index]  # classes seen in train
    test_y = torch.tensor([class_index[test_items[test_pos[i]].label] for i in known])
    test_x = test_x[known]
    report: dict = {
        "run": str(options.run_dir),
        "method": config.method,
        "domain": config.domain,
        "input": options.input_name,
        "n_train": len(train_pos),
        "n_test": len(known),
        "classes": len(classes),
        "skipped": len(train_skips.records) + len(test_skips.records),
        "knn_params": {"k": options.k, "T": options.temperature},
        "threads": torch.get_num_threads(),  # as evaluate_locked set it
    }
    test_features, predictions = both.split(test_x), {}
    with stage_progress(console) as progress:
        task = progress.add_task("kNN, linear probe, label curve", total=len(both.encoders))
        for which, train_features in both.split(train_x).items():
            progress.update(task, description=f"kNN, linear probe, label curve: {which.replace('_', ' ')}")
            report[which], predictions[which] = score(
                train_features, train_y, test_features[which], test_y, len(classes), options
            )
            progress.advance(task)
    report["paired"] = paired_report(predictions, test_y)
    test_labels = [test_items[test_pos[i]].label for i in known]
    verbatim = not domain.identifying_paths or options.label_attr is not None  # allow-listed attributes
    shown = shown_labels(test_labels, verbatim)
    mapped = {"pretrained": test_features["pretrained"], "random init": test_features["random_init"]}
    report["embedding_map"] = draw_map(mapped, shown, options.run_dir, config, console)
    report["label_efficiency_plot"] = draw_label_efficiency(report, options.run_dir)
    report["skipped_files"] = dict(sorted({**train_skips.records, **test_skips.records}.items()))
    eval_json = json.dumps(report, indent=2)
    write_text_atomic(options.run_dir / "eval.json", eval_json)
    return report


def draw_label_efficiency(report: dict, run_dir: Path) -> str:
    from sslcli.reporting.plots import plot_label_efficiency

    out = run_dir / "plots" / "label_efficiency.png"
    title = f"{report['method']} on {report['domain']}: accuracy vs labels ({report['n_test']} test items)"
    curves = {which: report[which]["label_efficiency"] for which in ("pretrained", "random_init")}
    plot_label_efficiency(curves, title, out)
    return str(out)


def draw_map(
    test_x: dict[str, torch.Tensor], labels: list[str], run_dir: Path, config, console
) -> str | None:
    """t-SNE (van der Maaten & Hinton 2008) of each encoder's test embeddings (N, D), side by side,
    coloured by label."""
    from sklearn.manifold import TSNE

    from sslcli.reporting.plots import plot_embedding_map

    if len(labels) < 5:
        return None
    panels = {}
    with stage_progress(console) as progress:
        task = progress.add_task("t-SNE map", total=len(test_x))
        for name, features in test_x.items():
            progress.update(task, description=f"t-SNE map: {name}")
            x = torch.nn.functional.normalize(features, dim=1).numpy().astype(np.float64)  # (N, D)
            perplexity = min(30.0, (x.shape[0] - 1) / 3)
            tsne = TSNE(2, perplexity=perplexity, init="pca", random_state=0)
            panels[name] = tsne.fit_transform(x)  # (N, 2)
            progress.advance(task)
    out = run_dir / "plots" / "embedding_map.png"
    plot_embedding_map(panels, labels, f"{config.method} on {config.domain}: test embeddings (t-SNE)", out)
    return str(out)
