"""Rich tables printed at the end of each command."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Table

from sslcli.errors import printable
from sslcli.run_dir import ENCODER, SKIPPED
from sslcli.scoring import ENCODERS


def titled_table(title: str) -> Table:
    """A table at least as wide as its title (up to 80 columns), so a narrow table keeps its title on
    one line instead of wrapping it."""
    return Table(title=title, min_width=min(len(title) + 2, 80))


def plain(text: str) -> str:
    """``text`` shown as it is: control characters escaped, no Rich markup interpreted."""
    return escape(printable(text))


def pretrain_record(result) -> dict:
    """What ``pretrain --json`` prints (keys documented in the README, "Machine-readable output"). A
    private folder's path is never included."""
    state, config = result.state, result.config
    budget = result.budget
    return {
        "run_dir": str(result.run_dir),
        "method": config.method,
        "domain": config.domain,
        "data": {"source": result.data_source, "path": config.data},
        "items": {
            "found": result.items_found,
            "used": result.items_found - len(result.skipped),
            "skipped": len(result.skipped),
        },
        "epochs": state.epoch,
        "steps": state.step,
        "final_loss": state.last_loss,
        "backbone": config.backbone,
        "input_size": config.input_size,
        "items_per_s": state.items_seen / max(state.elapsed_s, 1e-9),
        "seconds": state.elapsed_s,
        "time_budget": None if budget is None else budget.record(),  # as config.json keeps it
        "encoder": str(result.run_dir / ENCODER),
        "skipped_files": dict(sorted(result.skipped.items())),
    }


def pretrain_summary(record: dict) -> Table:
    table = Table(title=f"pretrain: {record['method']} on {record['domain']}", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    items = record["items"]
    rows = [
        ("run directory", plain(record["run_dir"])),
        ("data", describe_data(record["data"]["source"], record["data"]["path"])),
        ("items", f"{items['found']} found, {items['used']} used, {items['skipped']} skipped"),
        ("epochs / steps", f"{record['epochs']} / {record['steps']}"),
        ("final loss", f"{record['final_loss']:.4f}"),
        ("backbone", f"{record['backbone']} @ {record['input_size']}px"),
        ("throughput", f"{record['items_per_s']:.1f} items/s"),
        ("time", f"{record['seconds']:.1f} s"),
    ]
    plan = record["time_budget"]
    if plan is not None:
        fit = "" if plan["fits"] else " (one epoch takes longer than the budget)"
        pace = f"{plan['step_s']:.2f} s a step"
        pace += f", {plan['epoch_s']:.2f} s an epoch" if plan.get("epoch_s") is not None else ""
        rows.append(("time budget", f"{plan['budget_s']:.0f} s: {plan['epochs']} epochs at {pace}{fit}"))
    if items["skipped"]:
        rows.append(("skipped files", f"listed in {plain(str(Path(record['run_dir']) / SKIPPED))}"))
    for key, value in rows:
        table.add_row(key, value)
    return table


def embed_record(result) -> dict:
    """What ``embed --json`` prints (keys documented in the README, "Machine-readable output")."""
    return {
        "out": str(result.out),
        "embeddings": str(result.embeddings),
        "index": str(result.embeddings.parent / "index.csv"),
        "format": result.fmt,
        "rows": result.rows,
        "dim": result.dim,
        "items": {"found": result.items_found, "embedded": result.rows, "skipped": len(result.skipped)},
        "shard": None if result.shard.whole else {"shard": str(result.shard), "items": result.shard_items},
        "manifest": str(result.manifest) if result.manifest else None,
        "waiting_for_shards": [f"{i}/{result.shard.count}" for i in result.waiting],
        "pooled": {"path": str(result.pooled), "files": result.pooled_files} if result.pooled_files else None,
        "already_done": result.already_done,
        "items_per_s": None if result.already_done else result.rows / max(result.seconds, 1e-9),
        "skipped_files": dict(sorted(result.skipped.items())),
    }


def embed_summary(record: dict) -> Table:
    title = "embed" + (" (already complete)" if record["already_done"] else "")
    table = Table(title=title, show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row("output", f"{plain(record['embeddings'])} ({record['rows']} x {record['dim']} float32), "
                  f"{plain(record['index'])}")  # fmt: skip
    if record["pooled"]:
        pooled = record["pooled"]
        table.add_row(
            "per file", f"{plain(pooled['path'])} ({pooled['files']} files: mean of their segments)"
        )
    items = record["items"]
    counts = f"{items['embedded']} embedded, {items['skipped']} skipped"
    shard = record["shard"]
    if shard is None:
        table.add_row("items", f"{items['found']} found, {counts}")
    else:
        table.add_row(
            "items", f"{shard['items']} in shard {shard['shard']} of {items['found']} found, {counts}"
        )
        waiting = ", ".join(record["waiting_for_shards"])
        table.add_row(
            "manifest", plain(record["manifest"]) if record["manifest"] else f"waiting for shards {waiting}"
        )
    if record["items_per_s"] is not None:
        table.add_row("throughput", f"{record['items_per_s']:.1f} items/s")
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


def eval_tables(report: dict) -> list[Table]:
    """Accuracy (pretrained vs random init) and collapse indicators, or cross-modal retrieval."""
    if "pairs" in report:
        return retrieval_tables(report)
    knn = report["knn_params"]
    accuracy = titled_table(
        f"eval: {report['method']} on {report['domain']} "
        f"({report['n_train']} train / {report['n_test']} test, {report['classes']} classes)"
    )
    columns = ("protocol", "pretrained", "random init", "raw input", "gain", "items won/lost, p")
    for column in columns:
        accuracy.add_column(column, justify="left" if column == "protocol" else "right")
    names = {"knn": f"kNN (k={knn['k']}, T={knn['T']})", "linear": "linear probe"}
    for key, name in names.items():
        if key in report["pretrained"]:
            trained, baseline, raw = (report[which][key] for which in ENCODERS)
            better = "random_init" if baseline >= raw else "raw_input"  # the gain is over it
            gain = trained - max(baseline, raw)
            accuracy.add_row(
                name, f"{trained:.3f}", f"{baseline:.3f}", f"{raw:.3f}", f"{gain:+.3f}",
                won_lost(report["paired"][key][better]),
            )  # fmt: skip
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


def won_lost(test: dict) -> str:
    """McNemar's test against a baseline as ``+won/-lost, p=P``: the test items only the pretrained
    encoder got right, those only the baseline did, and the chance of a split this uneven."""
    return f"+{test['pretrained_only']}/-{test['baseline_only']}, p={test['p_value']:.2f}"


def label_efficiency_table(report: dict) -> Table:
    """Mean accuracy (over seeds) at each share of the training labels, pretrained / random init."""
    curves = [report[which]["label_efficiency"] for which in ("pretrained", "random_init")]
    table = titled_table(
        f"accuracy vs labels, mean of {len(curves[0]['seeds'])} draws (pretrained / random init)"
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
    table = titled_table(
        f"eval: {report['method']} on {report['domain']}, retrieval among {report['pairs']} pairs"
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
