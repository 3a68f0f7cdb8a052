"""Typed view options: each domain's ``views`` are validated (pydantic, strict) against its option
models and multi-crop's before a run directory exists, each error naming its field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sslcli.registry import DOMAINS
from tests.cli.test_bad_input import assert_one_line_error
from tests.conftest import invoke


@pytest.mark.parametrize(
    ("domain", "options", "field"),
    [
        ("natural", {"flip_p": 1.5}, "flip_p"),
        ("natural", {"flip_p": "0.5"}, "flip_p"),  # strict: a string is no number
        ("natural", {"crop_scale": [0.9, 0.2]}, "crop_scale"),  # lower bound above the upper
        ("natural", {"crop_scale": [0.0, 1.0]}, "crop_scale"),
        ("natural", {"jitter": [0.4, 0.4, 0.4, 0.7]}, "jitter"),  # hue at most 0.5
        ("medical", {"gamma": [1.5]}, "gamma"),  # a range has two bounds
        ("medical", {"noise_sigma": -0.1}, "noise_sigma"),
        ("natural", {"local_crops": 2.5}, "local_crops"),  # multi-crop options, in every domain
        ("medical", {"local_size": 4}, "local_size"),
    ],
)
def test_bad_values_are_refused_naming_the_field(domain, options, field):
    with pytest.raises(ValidationError) as raised:
        DOMAINS[domain].parse_options(options)
    assert {error["loc"][0] for error in raised.value.errors()} == {field}


def test_json_lists_are_tuples_and_unknown_names_list_the_valid_ones():
    natural = DOMAINS["natural"]
    parsed = natural.parse_options({"crop_scale": [0.2, 1.0], "blur_sigma": [0.1, 1], "local_crops": 2})
    assert (parsed.crop_scale, parsed.blur_sigma, parsed.local_crops) == ((0.2, 1.0), (0.1, 1.0), 2)
    with pytest.raises(ValueError, match=r"unknown view option\(s\) fliip_p; valid: .*flip_p"):
        natural.parse_options({"fliip_p": 0.5})
    with pytest.raises(ValueError, match="unknown view option.*window"):
        natural.parse_options({"window": "lung"})  # the medical domain's setting, not natural's


def test_bad_views_stop_pretrain_before_the_run_directory_exists(digit_folder, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[views]\ncrop_scale = [0.9, 0.1]\n")
    run = tmp_path / "run"
    result = invoke("pretrain", "--data", digit_folder, "--out", run, "--config", config)
    assert_one_line_error(result, "view options of natural", "views.crop_scale", "exceeds the upper bound")
    assert not run.exists()
