"""Rich tables printed at the end of each command."""

from __future__ import annotations

from rich.table import Table


def pretrain_summary(result) -> Table:
    state, config = result.state, result.config
    table = Table(title=f"pretrain: {config.method} on {config.domain}", show_header=False)
    table.add_column("", style="bold")
    table.add_column("")
    used = result.items_found - len(result.skipped)
    rows = [
        ("run directory", str(result.run_dir)),
        ("data", config.data),
        ("items", f"{result.items_found} found, {used} used, {len(result.skipped)} skipped"),
        ("epochs / steps", f"{state.epoch} / {state.step}"),
        ("final loss", f"{state.last_loss:.4f}"),
        ("backbone", f"{config.backbone} @ {config.input_size}px"),
        ("throughput", f"{state.items_seen / max(state.elapsed_s, 1e-9):.1f} items/s"),
        ("time", f"{state.elapsed_s:.1f} s"),
    ]
    if result.skipped:
        rows.append(("skipped files", f"listed in {result.run_dir / 'skipped.csv'}"))
    for key, value in rows:
        table.add_row(key, value)
    return table


def skipped_table(skipped: dict[str, str]) -> Table:
    table = Table(title=f"skipped files ({len(skipped)})")
    table.add_column("file")
    table.add_column("reason")
    for item_id, reason in sorted(skipped.items()):
        table.add_row(item_id, reason)
    return table
