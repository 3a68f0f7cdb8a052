"""Every registered method for images pretrains on a fixed batch of the built-in digits with a falling loss;
the engine's method hooks (epoch start, sampling weights, item indices, train end) work end to end."""

import inspect

import pytest
import torch

from sslcli.methods import StepContext
from sslcli.models import build_backbone
from sslcli.registry import DOMAINS, METHODS

INPUT_SIZE, BATCH, STEPS = 16, 12, 6
# Small heads keep the CPU cost down; the objectives are the methods' own.
SMALL = {
    "byol": {"hidden_dim": 256, "projection_dim": 64},
    "barlow_twins": {"hidden_dim": 256, "projection_dim": 256},
    "vicreg": {"hidden_dim": 256, "projection_dim": 256},
    "simsiam": {"projection_dim": 256, "predictor_dim": 64},
    "moco_v2": {"hidden_dim": 256},  # a queue much longer than the run: negatives stay other images
    "simclr": {"hidden_dim": 256},
    "dino": {"out_dim": 256},
    "jigsaw": {"num_permutations": 10, "hidden_dim": 128},
    "relative_patch": {"hidden_dim": 128},
    "mae": {"decoder_depth": 1},
    "deepcluster": {"num_clusters": 4},
}
VIEW_OPTIONS = {"multi_crop": {"local_crops": 2}}


@pytest.fixture(scope="module")
def digit_images():
    """BATCH canonical tensors from the natural domain's built-in digits sample, across classes."""
    natural = DOMAINS["natural"]()
    items = natural.discover(natural.builtin_sample()[0])
    step = len(items) // BATCH
    return [natural.load(items[i * step])["image"] for i in range(BATCH)]


def make_views(family: str, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
    natural = DOMAINS["natural"]()
    options = {**natural.recipe(data_is_builtin=True)["views"], **VIEW_OPTIONS.get(family, {})}
    view_fn = natural.configured(options).views(family, INPUT_SIZE)
    torch.manual_seed(0)
    per_item = [[view["image"] for view in view_fn({"image": image})] for image in images]
    return [{"image": torch.stack(group)} for group in zip(*per_item, strict=True)]  # (B, C, H, W) each


def build(name: str):
    cls = METHODS[name]
    torch.manual_seed(0)
    backbone, dim = build_backbone(cls.default_backbone or "resnet10", INPUT_SIZE)
    spec = DOMAINS["natural"]().inputs(INPUT_SIZE)["image"]
    sized = {"spec": spec} if "spec" in inspect.signature(cls.__init__).parameters else {}
    return cls(backbone, dim, **SMALL.get(name, {}), **sized)


def train_on_one_batch(method, views: list[dict[str, torch.Tensor]]) -> list[float]:
    optimizer = torch.optim.AdamW([p for p in method.parameters() if p.requires_grad], lr=1e-3)
    features = lambda: method.backbone.eval()(views[0]["image"]).detach()  # noqa: E731  (every item's)
    method.on_epoch_start(StepContext(total_steps=STEPS, features=features))
    method.train()
    losses = []
    for step in range(STEPS):
        torch.manual_seed(1)  # the same masks, permutations and noise each step: one fixed task
        ctx = StepContext(step, STEPS, indices=torch.arange(BATCH), features=features)
        loss = method(views, ctx).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        method.on_step_end(StepContext(step + 1, STEPS))
        losses.append(loss.item())
    return losses


NATURAL_INPUTS = DOMAINS["natural"]().inputs(INPUT_SIZE)
IMAGE_METHODS = sorted(name for name, cls in METHODS.items() if cls.fits(NATURAL_INPUTS))


@pytest.mark.parametrize("name", IMAGE_METHODS)
def test_method_loss_falls_on_a_fixed_batch_of_digits(name, digit_images):
    method = build(name)
    natural = DOMAINS["natural"]()
    assert all(method.supports(spec) for spec in natural.inputs(INPUT_SIZE).values())
    assert method.paper and method.description
    losses = train_on_one_batch(method, make_views(method.family, digit_images))
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-2:]) / 2 < sum(losses[:2]) / 2, losses
