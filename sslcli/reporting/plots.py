"""Pictures written into the run directory (matplotlib, headless Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FEW_POINTS = 20  # loss curves with fewer logged steps get a marker on each


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_picture(picture, out: Path) -> None:
    """Write an RGB image (3, H, W) in [0, 1] (a method's picture) as a PNG atomically."""
    from torchvision.utils import save_image

    from sslcli.run_dir import atomic_write

    atomic_write(out, lambda tmp: save_image(picture, tmp, format="png"))


def save_figure(plt, fig, out: Path) -> None:
    """Write ``fig`` as a PNG atomically (a full disk names ``out`` and leaves no half picture)."""
    from sslcli.run_dir import atomic_write

    try:
        atomic_write(out, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    finally:
        plt.close(fig)


def plot_loss(metrics_csv: Path, out: Path) -> bool:
    """Training loss (and learning rate on a twin axis) against the optimizer step; False (nothing
    drawn) when no step was logged."""
    from sslcli.metrics_csv import read_metrics

    rows = read_metrics(metrics_csv)
    if not rows:
        return False
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    steps = [r["step"] for r in rows]
    marker = "o" if len(rows) < FEW_POINTS else None  # a line through one point draws nothing
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, [r["loss"] for r in rows], color="tab:blue", marker=marker, markersize=4)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss", color="tab:blue")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
    if len(set(steps)) == 1:
        ax.set_xlim(steps[0] - 1, steps[0] + 1)
    lr_ax = ax.twinx()
    lr_ax.plot(
        steps,
        [r["lr"] for r in rows],
        color="tab:gray",
        linestyle="--",
        linewidth=1,
        marker=marker,
        markersize=3,
    )
    lr_ax.set_ylabel("learning rate", color="tab:gray")
    ax.set_zorder(lr_ax.get_zorder() + 1)  # the loss over the lr where they cross (one point: always)
    ax.patch.set_visible(False)
    fig.tight_layout()
    save_figure(plt, fig, out)
    return True


def plot_embedding_map(panels: dict[str, np.ndarray], labels: list[str], title: str, out: Path) -> None:
    """One scatter per encoder (``panels``: its name -> 2-D points (N, 2)) side by side, every point
    coloured by its label, with one legend of class names."""
    plt = _pyplot()
    classes = sorted(set(labels))
    cmap = plt.get_cmap("tab20" if len(classes) > 10 else "tab10")
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 5), squeeze=False)
    label_array = np.asarray(labels)
    for ax, (name, points) in zip(axes[0], panels.items(), strict=True):
        for index, label in enumerate(classes):
            chosen = label_array == label
            ax.scatter(points[chosen, 0], points[chosen, 1], s=8, color=cmap(index % cmap.N), label=label)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    if len(classes) <= 20:
        axes[0][-1].legend(markerscale=2, fontsize=7, loc="best", frameon=False)
    fig.tight_layout()
    save_figure(plt, fig, out)


def plot_label_efficiency(curves: dict[str, dict], title: str, out: Path) -> None:
    """Accuracy against labels per class (log axis) for each encoder (``curves``: name ->
    ``label_efficiency`` report) and protocol, the mean over seeds with a band of one standard
    deviation; pretrained solid, others dashed."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    colours = {"knn": "tab:blue", "linear": "tab:orange"}
    names = {"knn": "kNN", "linear": "linear probe"}
    for which, curve in curves.items():
        x = np.asarray(curve["labels_per_class"])
        for protocol, colour in colours.items():
            if protocol not in curve:
                continue
            mean, std = np.asarray(curve[protocol]["mean"]), np.asarray(curve[protocol]["std"])
            style = "-" if which == "pretrained" else "--"
            label = f"{names[protocol]}, {which.replace('_', ' ')}"
            ax.plot(x, mean, style, marker="o", markersize=3, color=colour, label=label)
            ax.fill_between(x, mean - std, mean + std, color=colour, alpha=0.12, linewidth=0)
    ax.set_xscale("log")
    ax.set_xlabel("labelled training items per class (mean over classes)")
    ax.set_ylabel("test accuracy")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    save_figure(plt, fig, out)
