"""The natural-image recipe for a user's folder: the input size follows the images' median short side
within the device's range, a CPU gets the shallow backbone and many small steps, small inputs get
SimCLR's small-image views (small grayscale ones wider crops and no flips), and a CPU run without
epochs trains for the default time budget."""

from __future__ import annotations

import json
import math
import os
import statistics

import numpy as np
import pytest
from PIL import Image
from rich.console import Console
from sslcli.domains.natural import SimCLRViewOptions
from sslcli.domains.natural_recipe import (
    CPU_MAX_INPUT,
    GPU_MAX_INPUT,
    GPU_MIN_INPUT,
    INPUT_STEP,
    SMALL_INPUT,
    input_size_for,
    probe_headers,
)

from sslcli.config import DEFAULT_CPU_BUDGET_S, PretrainConfig
from sslcli.engine.launch import pretrain
from sslcli.engine.setup import plan_run, recipe_lr
from sslcli.engine.time_budget import SAFETY
from sslcli.registry import DOMAINS
from tests.engine.test_time_budget import SimulatedTime


def write_images(root, sizes, channels=()):
    """One PNG per (width, height) in ``sizes``: grayscale (mode L), or with ``channels=(3,)`` RGB."""
    root.mkdir(parents=True, exist_ok=True)
    for index, (width, height) in enumerate(sizes):
        Image.fromarray(np.full((height, width, *channels), 128, np.uint8)).save(root / f"{index}.png")
    return root


def test_the_probe_reads_the_median_short_side_and_ignores_unreadable_files(tmp_path):
    sizes = [(20, 30), (40, 10), (28, 28), (64, 48), (100, 90)]
    root = write_images(tmp_path / "images", sizes)
    (root / "broken.png").write_bytes(b"not a png")
    os.mkfifo(root / "pipe.png")  # never opened: the open would block
    items = DOMAINS["natural"]().discover(root)
    assert probe_headers(items).short_side == statistics.median(min(size) for size in sizes) == 28


def test_a_folder_of_unreadable_files_has_no_side(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    assert probe_headers(DOMAINS["natural"]().discover(tmp_path)).short_side is None


@pytest.mark.parametrize(
    ("modes", "grayscale"),
    [(["L", "L", "RGB"], True), (["RGB", "RGBA", "L"], False), (["I;16", "1", "LA"], True), (["P"], False)],
)
def test_a_folder_is_grayscale_when_most_of_its_images_have_one_luminance_band(tmp_path, modes, grayscale):
    for index, mode in enumerate(modes):
        Image.new(mode, (20, 20)).save(tmp_path / f"{index}.png")
    assert probe_headers(DOMAINS["natural"]().discover(tmp_path)).grayscale is grayscale


@pytest.mark.parametrize("side", [5, 12, 28, 31, 100, 600, None])
def test_the_input_size_is_the_rounded_side_within_the_device_range(side):
    for device, low, high in (("cpu", 2 * INPUT_STEP, CPU_MAX_INPUT), ("cuda", GPU_MIN_INPUT, GPU_MAX_INPUT)):
        size = input_size_for(side, device)
        assert low <= size <= high and size % INPUT_STEP == 0
        if side is None:
            assert size == high
        elif low <= side <= high:
            assert abs(size - side) <= INPUT_STEP / 2  # the nearest multiple of the step
        else:
            assert size == (low if side < low else high)


def test_small_inputs_get_half_strength_jitter_wider_crops_and_no_blur(tmp_path):
    domain = DOMAINS["natural"]()
    items = domain.discover(write_images(tmp_path / "small", [(28, 28)] * 3, channels=(3,)))
    defaults = SimCLRViewOptions().model_dump()
    for device in ("cpu", "cuda"):
        recipe = domain.recipe(False, items, device)
        assert recipe["input_size"] <= SMALL_INPUT
        views = recipe["views"]
        assert views["jitter"] == tuple(strength / 2 for strength in defaults["jitter"])
        assert views["blur_p"] == 0 and views["crop_scale"][0] > defaults["crop_scale"][0]
        assert views["flip_p"] == defaults["flip_p"] > 0
    assert domain.recipe(False, items, "cpu")["backbone"] == "resnet10"


def test_small_grayscale_inputs_get_gentler_crops_than_colour_ones_and_no_flips(tmp_path):
    domain = DOMAINS["natural"]()
    grey = domain.discover(write_images(tmp_path / "grey", [(28, 28)] * 3))
    colour = domain.discover(write_images(tmp_path / "colour", [(28, 28)] * 3, channels=(3,)))
    for device in ("cpu", "cuda"):
        grey_views, colour_views = (domain.recipe(False, items, device)["views"] for items in (grey, colour))
        assert grey_views["flip_p"] == 0 and grey_views["crop_scale"][0] > colour_views["crop_scale"][0]
        same = {key for key in grey_views if grey_views[key] == colour_views[key]}
        assert same == set(grey_views) - {"flip_p", "crop_scale"}


def test_large_photos_on_a_gpu_keep_the_imagenet_views(tmp_path):
    domain = DOMAINS["natural"]()
    items = domain.discover(write_images(tmp_path / "photos", [(640, 480)] * 3))
    recipe = domain.recipe(False, items, "cuda")
    assert recipe["input_size"] == GPU_MAX_INPUT and recipe["views"] == SimCLRViewOptions().model_dump()


def test_a_cpu_run_without_epochs_trains_for_the_default_budget(tmp_path, monkeypatch):
    data = write_images(tmp_path / "images", [(20, 20)] * 24)
    config = PretrainConfig(
        data=str(data), out=str(tmp_path / "run"), batch_size=8, num_workers=0, device="cpu"
    )
    step_s = DEFAULT_CPU_BUDGET_S / 10  # an epoch of 3 steps plans at its end; the next is timed whole
    clock = SimulatedTime(step_s, save_s=0.0)
    clock.run(monkeypatch)
    result = pretrain(config, None, Console(quiet=True), clock=clock)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["config"]["time_budget_s"] == DEFAULT_CPU_BUDGET_S == result.budget.budget_s
    assert result.state.epoch == 2 + math.floor((SAFETY * DEFAULT_CPU_BUDGET_S - 6 * step_s) / (3 * step_s))
    assert saved["config"]["input_size"] == input_size_for(20, "cpu")


def test_the_recipe_lr_follows_the_batch_and_only_applies_to_adamw():
    recipe = {"lr": 2e-3, "batch_size": 128}
    assert recipe_lr(PretrainConfig(), recipe) == 2e-3
    assert recipe_lr(PretrainConfig(batch_size=64), recipe) == pytest.approx(1e-3)  # linear scaling
    assert recipe_lr(PretrainConfig(optimizer="sgd"), recipe) is None  # SGD keeps 0.3 x B / 256
    assert recipe_lr(PretrainConfig(), {"batch_size": 128}) is None


def test_a_folder_on_a_cpu_trains_at_the_generic_adamw_lr(tmp_path):
    data = write_images(tmp_path / "images", [(28, 28)] * 4)
    for batch in (None, 64):
        config = PretrainConfig(data=str(data), out=str(tmp_path / "run"), batch_size=batch, device="cpu")
        resolved = plan_run(config, config.data, DOMAINS["natural"]()).config
        assert resolved.lr == pytest.approx(1e-3 * resolved.batch_size / 256)  # 1e-3 x B / 256
        assert resolved.batch_size == (batch or 128)
