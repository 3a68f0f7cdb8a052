"""Rich tables printed at the end of each command."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from sslcli.errors import printable
from sslcli.run_dir import SKIPPED


def plain(text: str) -> str:
    """``text`` shown as it is: control characters escaped, no Rich markup interpreted."""
    return escape(printable(text))


def pretrain_summary(result) -> Table:
    state, config = result.state, result.config
    table = Table(title=f"pretrain: {config.method} on {config.domain}", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    used = result.items_found - len(result.skipped)
    rows = [
        ("run directory", plain(str(result.run_dir))),
        ("data", describe_data(result.data_source, config.data)),
        ("items", f"{result.items_found} found, {used} used, {len(result.skipped)} skipped"),
        ("epochs / steps", f"{state.epoch} / {state.step}"),
        ("final loss", f"{state.last_loss:.4f}"),
        ("backbone", f"{config.backbone} @ {config.input_size}px"),
        ("throughput", f"{state.items_seen / max(state.elapsed_s, 1e-9):.1f} items/s"),
        ("time", f"{state.elapsed_s:.1f} s"),
    ]
    if result.budget is not None:
        plan = result.budget
        fit = "" if plan.fits else " (one epoch takes longer than the budget)"
        rows.append(
            ("time budget", f"{plan.budget_s:.0f} s: {plan.epochs} epochs at {plan.step_s:.2f} s a step{fit}")
        )
    if result.skipped:
        rows.append(("skipped files", f"listed in {plain(str(result.run_dir / SKIPPED))}"))
    for key, value in rows:
        table.add_row(key, value)
    return table


def describe_data(source: str, path: str | None) -> str:
    """The data row of the summary: a private folder is never named."""
    if source == "builtin":
        return "the domain's built-in sample"
    if source == "private folder":
        return "the --data folder (private: its path is not stored or printed)"
    return plain(path or "")


def skipped_table(skipped: dict[str, str]) -> Table:
    table = Table(title=f"skipped files ({len(skipped)})")
    table.add_column("file")
    table.add_column("reason")
    for item_id, reason in sorted(skipped.items()):
        table.add_row(plain(item_id), plain(reason))
    return table


ENCODERS = ("pretrained", "random_init", "raw_input")  # the features eval scores, side by side


def eval_tables(report: dict) -> list[Table]:
    """Accuracy (pretrained vs random init) and collapse indicators, or cross-modal retrieval."""
    if "pairs" in report:
        return retrieval_tables(report)
    knn = report["knn_params"]
    accuracy = Table(
        title=f"eval: {report['method']} on {report['domain']} "
        f"({report['n_train']} train / {report['n_test']} test, {report['classes']} classes)"
    )
    for column in ("protocol", "pretrained", "random init", "raw input", "gain"):
        accuracy.add_column(column, justify="left" if column == "protocol" else "right")
    names = {"knn": f"kNN (k={knn['k']}, T={knn['T']})", "linear": "linear probe"}
    for key, name in names.items():
        if key in report["pretrained"]:
            trained, baseline, raw = (report[which][key] for which in ENCODERS)
            gain = trained - max(baseline, raw)  # over the better baseline
            accuracy.add_row(name, f"{trained:.3f}", f"{baseline:.3f}", f"{raw:.3f}", f"{gain:+.3f}")
    collapse = Table(title="collapse indicators (test embeddings)")
    for column in ("encoder", "per-dim std (normalised)", "uniform reference", "effective rank", "dim"):
        collapse.add_column(column, justify="left" if column == "encoder" else "right")
    for which in ("pretrained", "random_init"):
        c = report[which]["collapse"]
        collapse.add_row(
            which.replace("_", " "),
            f"{c['normalised_std']:.4f}",
            f"{c['normalised_std_reference']:.4f}",
            f"{c['effective_rank']:.1f}",
            str(c["dim"]),
        )
    tables = [accuracy, label_efficiency_table(report), collapse]
    if report["skipped_files"]:
        tables.append(skipped_table(report["skipped_files"]))
    return tables


def label_efficiency_table(report: dict) -> Table:
    """Mean accuracy (over seeds) at each share of the training labels, pretrained / random init."""
    curves = [report[which]["label_efficiency"] for which in ("pretrained", "random_init")]
    table = Table(
        title=f"accuracy vs labels, mean of {len(curves[0]['seeds'])} draws (pretrained / random init)"
    )
    protocols = [name for name in ("knn", "linear") if name in curves[0]]
    table.add_column("labels", justify="left")
    for name in protocols:
        table.add_column("kNN" if name == "knn" else "linear probe", justify="right")
    rows = zip(curves[0]["fractions"], curves[0]["labels_per_class"], strict=True)
    for i, (fraction, per_class) in enumerate(rows):
        cells = [" / ".join(f"{curve[name]['mean'][i]:.3f}" for curve in curves) for name in protocols]
        table.add_row(f"{fraction:.0%} ({per_class:.1f}/class)", *cells)
    return table


def retrieval_tables(report: dict) -> list[Table]:
    """Recall@1/5 and median rank of each query direction, pretrained vs random init, with chance."""
    table = Table(
        title=f"eval: {report['method']} on {report['domain']}, retrieval among {report['pairs']} pairs"
    )
    for column in ("query -> key", "encoders", "recall@1", "recall@5", "median rank"):
        table.add_column(column, justify="left" if column in ("query -> key", "encoders") else "right")
    for direction in report["pretrained"]:
        for which in ("pretrained", "random_init"):
            s = report[which][direction]
            table.add_row(
                direction, which.replace("_", " "), f"{s['recall@1']:.3f}", f"{s['recall@5']:.3f}",
                f"{s['median_rank']:.0f}",
            )  # fmt: skip
        table.add_row(
            direction, "chance", f"{s['chance@1']:.3f}", f"{s['chance@5']:.3f}", "", end_section=True
        )
    tables = [table]
    if report["skipped_files"]:
        tables.append(skipped_table(report["skipped_files"]))
    return tables
