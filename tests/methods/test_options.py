"""Typed method options: every method's options are validated (pydantic, strict) before a run
directory exists, each error naming its field, and ``sslcli methods --show`` lists them."""

from __future__ import annotations

import inspect

import pytest
from pydantic import ValidationError

from sslcli.methods.options import ENGINE_ARGUMENTS, options_model, validate_options
from sslcli.registry import METHODS
from tests.cli.test_bad_input import assert_one_line_error
from tests.conftest import invoke


@pytest.mark.parametrize("name", list(METHODS))
def test_the_options_are_the_constructor_keywords_with_their_defaults(name):
    method = METHODS[name]
    keywords = {
        p.name: p.default
        for p in inspect.signature(method.__init__).parameters.values()
        if p.name not in ENGINE_ARGUMENTS
    }
    assert validate_options(method, {}) == keywords


@pytest.mark.parametrize(
    ("name", "options", "field"),
    [
        ("simclr", {"temperature": 0.0}, "temperature"),
        ("moco_v2", {"queue_size": 0}, "queue_size"),
        ("moco_v2", {"momentum": 1.5}, "momentum"),
        ("mae", {"mask_ratio": 1.0}, "mask_ratio"),
        ("deepcluster", {"num_clusters": 1}, "num_clusters"),
        ("jigsaw", {"num_permutations": 1001}, "num_permutations"),
        ("byol", {"hidden_dim": 16.5}, "hidden_dim"),  # strict: never coerced to 16
        ("dino", {"student_temp": "0.1"}, "student_temp"),
        ("vicreg", {"variance": float("inf")}, "variance"),
        ("simsiam", {"predictor": 64}, "predictor"),  # unknown name
    ],
)
def test_bad_options_are_refused_naming_the_field(name, options, field):
    with pytest.raises(ValidationError) as raised:
        validate_options(METHODS[name], options)
    assert [error["loc"] for error in raised.value.errors()] == [(field,)]


def test_tuples_and_whole_numbers_read_from_json():
    model = options_model(METHODS["simclr"])
    assert model.model_validate_json('{"temperature": 1}').temperature == 1.0


def test_bad_options_stop_pretrain_before_the_run_directory_exists(digit_folder, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('method = "moco_v2"\n[method_options]\nqueue_size = -4\n')
    run = tmp_path / "run"
    result = invoke("pretrain", "--data", digit_folder, "--out", run, "--config", config)
    assert_one_line_error(result, "method_options.queue_size", "greater than or equal to 1")
    assert not run.exists()


def test_show_lists_types_constraints_and_defaults():
    result = invoke("methods", "--show", "moco_v2")
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") == 4}
    assert "int >= 1" in rows["queue_size"] and "4096" in rows["queue_size"]
    assert "float >= 0, <= 1" in rows["momentum"]
