"""The pictures show what they claim: a short run's loss curve draws its points, the embedding map
shows the trained encoder beside its random initialisation."""

import numpy as np
import pytest

from sslcli.metrics_csv import MetricsLog
from sslcli.reporting import plots

LOSS_BLUE = np.array([31, 119, 180])  # matplotlib's tab:blue, the loss curve's colour


def captured_figure(monkeypatch, draw):
    """The matplotlib figure ``draw()`` saves, drawn to RGB pixels, and the figure itself."""
    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda plt, fig, out: figures.append(fig))
    draw()
    (fig,) = figures
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3], fig


@pytest.mark.parametrize("steps", [[1], [1, 2], list(range(1, 40))])
def test_the_loss_curve_of_a_short_run_is_drawn_with_whole_step_ticks(tmp_path, monkeypatch, steps):
    log = MetricsLog(tmp_path / "metrics.csv", None)
    for step in steps:
        log.append(step=step, epoch=1, loss=5.0 - 0.01 * step, lr=1e-3, items_per_s=10.0, elapsed_s=step)
    pixels, fig = captured_figure(
        monkeypatch, lambda: plots.plot_loss(tmp_path / "metrics.csv", tmp_path / "l.png")
    )
    ax = fig.axes[0]
    x0, y0, x1, y1 = ax.get_window_extent().bounds
    x0, x1 = int(x0) + 2, int(x0 + x1) - 2
    top, bottom = pixels.shape[0] - int(y0 + y1) + 2, pixels.shape[0] - int(y0) - 2  # rows count from the top
    inside = pixels[top:bottom, x0:x1].reshape(-1, 3).astype(int)
    blue = np.abs(inside - LOSS_BLUE).sum(axis=1) < 30
    assert blue.sum() >= 10  # the curve (or its one point) is visible inside the axes
    ticks = [tick for tick in ax.get_xticks() if ax.get_xlim()[0] <= tick <= ax.get_xlim()[1]]
    assert ticks and all(float(tick).is_integer() for tick in ticks)


def test_the_embedding_map_draws_each_encoder_in_its_own_panel(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    labels = ["a"] * 20 + ["b"] * 20
    panels = {"pretrained": rng.normal(size=(40, 2)), "random init": rng.normal(size=(40, 2))}
    _, fig = captured_figure(
        monkeypatch, lambda: plots.plot_embedding_map(panels, labels, "simclr on natural", tmp_path / "m.png")
    )
    assert [ax.get_title() for ax in fig.axes] == list(panels)
    for ax, points in zip(fig.axes, panels.values(), strict=True):
        drawn = np.concatenate([collection.get_offsets() for collection in ax.collections])
        assert np.allclose(np.sort(drawn, axis=0), np.sort(points, axis=0))  # every point, in its panel
