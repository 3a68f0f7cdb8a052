"""Medical views: shapes, no colour change, window jitter in closed form, options, run settings."""

from __future__ import annotations

import pytest
import torch
from sslcli.domains.medical.views import MEAN, STD

from sslcli.engine.domain_setup import bound_domain
from sslcli.errors import UserError
from sslcli.registry import DOMAINS

ALL_OFF = {
    "crop_scale": (1.0, 1.0),
    "hflip_p": 0.0,
    "rotate_degrees": 0.0,
    "window_p": 0.0,
    "gamma_p": 0.0,
    "contrast_p": 0.0,
    "noise_p": 0.0,
    "blur_p": 0.0,
}


@pytest.fixture
def medical():
    return DOMAINS["medical"]()


def grey(size: int = 16) -> torch.Tensor:
    """(3, size, size) window units with values outside [0, 1], equal channels, as a 2-D slice loads."""
    ramp = torch.linspace(-0.5, 1.5, size * size).reshape(1, size, size)
    return ramp.expand(3, -1, -1).clone()


def test_views_have_the_input_size_and_keep_grey_images_grey(medical):
    torch.manual_seed(0)
    view_fn = medical.views("two_views", 12)
    for sample in view_fn({"image": grey()}):
        view = sample["image"]
        assert view.shape == (3, 12, 12) and torch.isfinite(view).all()
        assert torch.equal(view[0], view[1]) and torch.equal(view[1], view[2])  # no colour jitter


def test_views_are_random_but_reproducible_under_a_seed(medical):
    augment = medical.augment(16, medical.options)
    torch.manual_seed(1)
    first = augment(grey())
    torch.manual_seed(1)
    assert torch.equal(first, augment(grey()))
    assert not torch.equal(first, augment(grey()))


def test_with_everything_off_a_view_is_the_clipped_normalised_input(medical):
    view = medical.augment(16, medical.parse_options(ALL_OFF))(grey())
    assert torch.allclose(view, (grey().clamp(0, 1) - MEAN) / STD, atol=1e-5)
    assert torch.allclose(medical.eval_transform(16)(grey()), view, atol=1e-5)


def test_window_jitter_rewindows_before_clipping(medical):
    # centre shift 0, width scale exactly 2: x -> (x - 0.5) / 2 + 0.5, so -0.5..1.5 maps onto 0..1 unclipped
    options = {**ALL_OFF, "window_p": 1.0, "window_shift": 0.0, "window_scale": (2.0, 2.0)}
    view = medical.augment(16, medical.parse_options(options))(grey())
    assert torch.allclose(view * STD + MEAN, (grey() - 0.5) / 2 + 0.5, atol=1e-5)


def test_horizontal_flip_is_on_and_vertical_off_by_default(medical):
    options = {**ALL_OFF, "hflip_p": 1.0}
    image = grey()
    assert torch.allclose(
        medical.augment(16, medical.parse_options(options))(image), (image.flip(-1).clamp(0, 1) - MEAN) / STD
    )
    defaults = medical.recipe(data_is_builtin=False)["views"]
    assert defaults["vflip_p"] == 0.0 and defaults["hflip_p"] == 0.5


def test_unknown_option_is_named(medical):
    with pytest.raises(ValueError, match="unknown view option.*colour_jitter"):
        medical.parse_options({"colour_jitter": 0.8})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"window": "soft"}, "views.window: input should be 'auto', 'file'"),
        ({"sample": "3d"}, "views.sample: input should be '2d' or '2.5d'"),
        ({"window": "multi", "sample": "2.5d"}, "choose one"),
    ],
)
def test_bad_run_settings_are_one_line_errors_naming_the_field(tmp_path, options, message):
    with pytest.raises(UserError, match=message) as raised:
        bound_domain("medical", tmp_path, options, create=True)
    assert "\n" not in str(raised.value) and not list(tmp_path.iterdir())  # nothing written
