"""Natural-image domain: decoding of every supported depth/mode, discovery, bad files, SimCLR views."""

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from sslcli.domains import BadItemError
from sslcli.domains.natural import IMAGENET_MEAN, IMAGENET_STD

from sslcli.registry import DOMAINS


@pytest.fixture
def natural():
    return DOMAINS["natural"]()


def load(natural, path):
    (item,) = [i for i in natural.discover(path.parent) if i.path == path]
    return natural.load(item)["image"]


def test_8bit_grayscale_becomes_three_equal_channels(natural, tmp_path):
    pixels = np.array([[0, 51], [204, 255]], dtype=np.uint8)
    Image.fromarray(pixels, mode="L").save(tmp_path / "g.png")
    tensor = load(natural, tmp_path / "g.png")
    assert tensor.shape == (3, 2, 2) and tensor.dtype == torch.float32
    for channel in tensor:
        assert torch.allclose(channel, torch.tensor([[0.0, 0.2], [0.8, 1.0]]))


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_grayscale_keeps_its_depth(natural, tmp_path, suffix):
    pixels = np.array([[0, 257], [32768, 65535]], dtype=np.uint16)
    Image.fromarray(pixels).save(tmp_path / f"deep{suffix}")
    tensor = load(natural, tmp_path / f"deep{suffix}")
    expected = torch.tensor([[0, 257], [32768, 65535]], dtype=torch.float32) / 65535
    assert torch.allclose(tensor[0], expected) and torch.equal(tensor[0], tensor[2])


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tiff", ".webp"])
def test_rgb_values_are_exact_for_lossless_formats(natural, tmp_path, suffix):
    rgb = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    Image.fromarray(rgb, mode="RGB").save(
        tmp_path / f"c{suffix}", **({"lossless": True} if suffix == ".webp" else {})
    )
    tensor = load(natural, tmp_path / f"c{suffix}")
    assert tensor.shape == (3, 5, 7)
    assert torch.allclose(tensor, torch.from_numpy(rgb).permute(2, 0, 1).float() / 255)


def test_jpeg_decodes_close_to_the_source(natural, tmp_path):
    rgb = np.full((16, 16, 3), (200, 100, 50), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "photo.JPG", quality=95)
    tensor = load(natural, tmp_path / "photo.JPG")
    assert torch.allclose(tensor.mean(dim=(1, 2)), torch.tensor([200, 100, 50]) / 255, atol=0.02)


def test_rgba_drops_alpha_and_palette_expands(natural, tmp_path):
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 10
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    assert torch.allclose(load(natural, tmp_path / "a.png")[:, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    palette = Image.new("P", (3, 3))
    palette.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    palette.putpixel((1, 1), 1)
    palette.save(tmp_path / "p.png")
    tensor = load(natural, tmp_path / "p.png")
    assert torch.equal(tensor[:, 1, 1], torch.tensor([0.0, 1.0, 0.0])) and tensor[:, 0, 0].sum() == 0


def test_discovery_is_recursive_sorted_and_by_extension(natural, tmp_path):
    for name in ["b/x.PNG", "a/deep/y.jpeg", "z.webp", "notes.txt", "labels.csv", "a/c.gif"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert [item.rel_path for item in natural.discover(tmp_path)] == ["a/deep/y.jpeg", "b/x.PNG", "z.webp"]


def jpeg_bytes(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_bad_files_raise_with_a_reason(natural, tmp_path):
    noise = np.random.default_rng(1).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "full.png")
    (tmp_path / "cut.jpg").write_bytes(jpeg_bytes(noise)[:-400])
    (tmp_path / "truncated.png").write_bytes((tmp_path / "full.png").read_bytes()[:2000])
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.png").write_text("this is not an image\n")
    reasons = {}
    for item in natural.discover(tmp_path):
        try:
            natural.load(item)["image"]
        except BadItemError as err:
            reasons[item.rel_path] = str(err)
    assert set(reasons) == {"truncated.png", "cut.jpg", "empty.jpg", "text.png"}
    assert "0 bytes" in reasons["empty.jpg"] and "not a readable image" in reasons["text.png"]
    assert "truncated" in reasons["truncated.png"] and "truncated" in reasons["cut.jpg"]


def test_views_without_augmentation_are_the_normalised_resize(natural):
    image = torch.rand(3, 10, 10)
    plain = dict(crop_scale=(1.0, 1.0), flip_p=0.0, jitter_p=0.0, grayscale_p=0.0, blur_p=0.0)
    view_a, view_b = (
        view["image"] for view in natural.configured(plain).views("two_views", 20)({"image": image})
    )
    resized = F.interpolate(image[None], size=(20, 20), mode="bilinear", align_corners=False, antialias=True)[
        0
    ]
    expected = (resized - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[
        :, None, None
    ]
    assert torch.allclose(view_a, expected, atol=1e-5) and torch.allclose(view_b, expected, atol=1e-5)


def test_default_views_differ_and_grayscale_option_applies(natural):
    torch.manual_seed(0)
    image = torch.rand(3, 32, 32)
    view_a, view_b = (view["image"] for view in natural.views("two_views", 24)({"image": image}))
    assert view_a.shape == view_b.shape == (3, 24, 24) and not torch.equal(view_a, view_b)
    gray = natural.configured({"grayscale_p": 1.0}).views("two_views", 24)({"image": image})[0]["image"]
    unnormalised = (
        gray * torch.tensor(IMAGENET_STD)[:, None, None] + torch.tensor(IMAGENET_MEAN)[:, None, None]
    )
    assert torch.allclose(unnormalised[0], unnormalised[1], atol=1e-5)


def test_unknown_or_invalid_view_options_are_rejected(natural):
    with pytest.raises(ValueError, match="unknown view option.*crop_scale"):
        natural.parse_options({"crop_sclae": (0.2, 1.0)})
    with pytest.raises(ValueError, match="flip_p"):
        natural.parse_options({"flip_p": 2.0})


def test_digits_sample_is_a_stratified_held_out_split(natural):
    train, test = natural.builtin_sample()
    train_items, test_items = natural.discover(train), natural.discover(test)
    assert (len(train_items), len(test_items)) == (1437, 360)
    train_names = {i.path.name for i in train_items}
    assert not train_names & {i.path.name for i in test_items}
    per_class = {d: len(list((test / str(d)).glob("*.png"))) for d in range(10)}
    assert all(33 <= n <= 38 for n in per_class.values())  # ~20% of each of the ten classes
    assert natural.builtin_sample() == (train, test)  # materialised once, then reused
