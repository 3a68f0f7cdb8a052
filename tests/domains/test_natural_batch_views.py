"""Natural images' colour stages on whole batches (``augment_on="device"``): each stage against a
closed-form or torchvision reference, per-sample parameters, reproducibility under torch's seed, and
the per-item views that feed them (crop and flip only); ``auto`` keeps today's CPU views on a CPU."""

import pytest
import torch
import torch.nn.functional as F
from sslcli.domains.natural import IMAGENET_MEAN, IMAGENET_STD
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from sslcli.registry import DOMAINS

MEAN = torch.tensor(IMAGENET_MEAN)[:, None, None]
STD = torch.tensor(IMAGENET_STD)[:, None, None]
NO_COLOUR = {"jitter_p": 0.0, "grayscale_p": 0.0, "blur_p": 0.0, "solarize_p": 0.0}
SIDE = 24


def on_device(family: str = "two_views", **options):
    """The natural domain set up for ``family`` views with the colour stages on the batch's device."""
    natural = DOMAINS["natural"].configured({"augment_on": "device", **options})
    natural.views(family, SIDE)
    return natural


def colour(natural, images: torch.Tensor) -> torch.Tensor:
    """The colour stages on one batch (B, 3, S, S), un-normalised back to [0, 1] for comparison."""
    (view,) = natural.batch_augment([{"image": images}])
    return view["image"] * STD + MEAN


def test_without_colour_stages_the_batch_is_only_normalised():
    images = torch.rand(5, 3, SIDE, SIDE)
    (view,) = on_device(**NO_COLOUR).batch_augment([{"image": images}])
    assert view["image"].shape == images.shape and view["image"].dtype == torch.float32
    assert torch.allclose(view["image"], (images - MEAN) / STD, atol=1e-6)


def test_grayscale_is_the_itu_r_601_luma_in_every_channel():
    images = torch.rand(4, 3, SIDE, SIDE)
    gray = colour(on_device(**{**NO_COLOUR, "grayscale_p": 1.0}), images)
    luma = 0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]  # (B, S, S)
    for channel in range(3):
        assert torch.allclose(gray[:, channel], luma, atol=1e-5)


def test_solarize_inverts_pixels_from_one_half_up():
    images = torch.rand(4, 3, SIDE, SIDE)
    solarized = colour(on_device(**{**NO_COLOUR, "solarize_p": 1.0}), images)
    assert torch.allclose(solarized, torch.where(images >= 0.5, 1 - images, images), atol=1e-5)


def test_blur_uses_the_cpu_views_kernel_and_sigma_rule():
    """At 24 px the kernel is 3 and sigma 1.12 * 24 / 224; torchvision's blur is the reference."""
    images = torch.rand(3, 3, SIDE, SIDE)
    blurred = colour(on_device(**{**NO_COLOUR, "blur_p": 1.0, "blur_sigma": (1.12, 1.12)}), images)
    sigma = 1.12 * SIDE / 224
    assert torch.allclose(blurred, TF.gaussian_blur(images, [3, 3], [sigma, sigma]), atol=1e-5)


def test_each_sample_draws_its_own_jitter():
    """Brightness only: every image is scaled by one factor in [0.5, 1.5] of its own."""
    image = torch.rand(3, SIDE, SIDE) * 0.6  # no pixel clips at factor 1.5
    images = image.expand(6, -1, -1, -1)
    jittered = colour(on_device(**{**NO_COLOUR, "jitter_p": 1.0, "jitter": (0.5, 0.0, 0.0, 0.0)}), images)
    factors = jittered.sum(dim=(1, 2, 3)) / image.sum()  # (B,)
    assert torch.allclose(jittered, factors[:, None, None, None] * image, atol=1e-5)
    assert ((factors >= 0.5) & (factors <= 1.5)).all()
    assert len(set(factors.tolist())) == 6  # two identical images never share their factor


def test_the_same_torch_seed_gives_the_same_batch_and_a_new_draw_another():
    natural = on_device(solarize_p=0.5)  # every stage, each with its own gate
    images = torch.rand(8, 3, SIDE, SIDE)
    torch.manual_seed(7)
    first = colour(natural, images)
    torch.manual_seed(7)
    again = colour(natural, images)
    assert torch.equal(first, again) and not torch.equal(first, colour(natural, images))


def test_per_item_views_are_crop_and_flip_only():
    natural = DOMAINS["natural"].configured({"augment_on": "device", "crop_scale": (1.0, 1.0), "flip_p": 0.0})
    image = torch.rand(3, 10, 10)
    view_fn = natural.views("two_views", 20)
    view = view_fn({"image": image})[0]["image"]
    resized = F.interpolate(image[None], size=(20, 20), mode="bilinear", antialias=True)[0]
    assert torch.allclose(view, resized, atol=1e-5)  # not normalised: the batch stages do that


def test_multi_crop_views_keep_their_sizes_through_the_batch_stages():
    natural = on_device("multi_crop", local_crops=2, local_size=8)
    torch.manual_seed(0)
    per_item = [natural.views("multi_crop", SIDE)({"image": torch.rand(3, 30, 30)}) for _ in range(4)]
    batched = [{"image": torch.stack([views[i]["image"] for views in per_item])} for i in range(4)]
    out = natural.batch_augment(batched)
    assert [tuple(view["image"].shape) for view in out] == [(4, 3, SIDE, SIDE)] * 2 + [(4, 3, 8, 8)] * 2


@pytest.mark.parametrize("family", ["plain", "two_views"])
def test_auto_keeps_todays_per_item_views_on_a_cpu(family):
    natural = DOMAINS["natural"]()
    natural.use_device(torch.device("cpu"))
    image = torch.rand(3, 32, 32)
    torch.manual_seed(3)
    auto = natural.views(family, SIDE)({"image": image})
    assert natural.batch_augment(auto) is auto  # nothing left for the batch
    torch.manual_seed(3)
    cpu = DOMAINS["natural"].configured({"augment_on": "cpu"}).views(family, SIDE)({"image": image})
    assert all(torch.equal(a["image"], c["image"]) for a, c in zip(auto, cpu, strict=True))


def test_auto_moves_the_colour_stages_to_a_cuda_device():
    natural = DOMAINS["natural"]()
    natural.use_device(torch.device("cuda"))  # only recorded: nothing runs there in this test
    view = natural.views("two_views", SIDE)({"image": torch.rand(3, 32, 32)})[0]["image"]
    assert view.min() >= 0 and view.max() <= 1 and natural.batch_views is not None
    natural.views("plain", SIDE)  # eval views are finished per item
    assert natural.batch_views is None


def test_solarize_option_applies_on_the_cpu_path_too():
    natural = DOMAINS["natural"]()
    image = torch.rand(3, SIDE, SIDE)
    options = {**NO_COLOUR, "augment_on": "cpu", "solarize_p": 1.0, "crop_scale": (1.0, 1.0), "flip_p": 0.0}
    view = natural.configured(options).views("one_view", SIDE)({"image": image})[0]["image"]
    assert torch.allclose(view * STD + MEAN, torch.where(image >= 0.5, 1 - image, image), atol=1e-5)


def test_the_cpu_views_draw_exactly_as_the_simclr_pipeline_without_solarize():
    """``auto`` on a CPU with solarize off: the same draws, so the same views, as SimCLR's
    torchvision pipeline written out here (the views before solarize and ``augment_on`` existed)."""
    kernel, sigma = 3, (0.1 * SIDE / 224, 2.0 * SIDE / 224)  # kernel ~10% of the side, sigma x S/224
    reference = v2.Compose(
        [
            v2.RandomResizedCrop(SIDE, scale=(0.08, 1.0), antialias=True),
            v2.RandomHorizontalFlip(0.5),
            v2.RandomApply([v2.ColorJitter(0.8, 0.8, 0.8, 0.2)], p=0.8),
            v2.RandomGrayscale(0.2),
            v2.RandomApply([v2.GaussianBlur(kernel, sigma=sigma)], p=0.5),
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    image = torch.rand(3, 40, 40)
    torch.manual_seed(11)
    views = DOMAINS["natural"]().views("two_views", SIDE)({"image": image})
    torch.manual_seed(11)
    expected = [reference(image), reference(image)]
    assert all(torch.equal(view["image"], want) for view, want in zip(views, expected, strict=True))
