"""--logger: parsing, the one-line errors, and tracker params that keep private paths out."""

from __future__ import annotations

import sys

import pytest

from sslcli.errors import UserError
from sslcli.tracking.choice import parse_logger_option
from sslcli.tracking.params import run_name, tracking_params
from tests.conftest import FAST_PRETRAIN, invoke, one_error_line


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["tensorboard"], ["tensorboard"]),
        (["mlflow,wandb"], ["mlflow", "wandb"]),
        (["mlflow", "tensorboard", "mlflow"], ["mlflow", "tensorboard"]),
        ([" WandB , tensorboard "], ["wandb", "tensorboard"]),
        (["none"], []),
    ],
)
def test_logger_values_repeat_or_split_on_commas(values, expected):
    assert parse_logger_option(values) == expected


@pytest.mark.parametrize("values", [["neptune"], ["none,mlflow"], [","]])
def test_bad_logger_values_are_refused(values):
    with pytest.raises(UserError, match="--logger"):
        parse_logger_option(values)


def test_an_unknown_logger_is_one_line(digit_folder, tmp_path):
    result = invoke("pretrain", "--data", digit_folder, "--out", tmp_path / "run", "--logger", "comet")
    assert "unknown tracker comet" in one_error_line(result)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("tracker", ["mlflow", "wandb"])
def test_a_missing_tracker_package_is_one_line_before_the_run_starts(
    digit_folder, tmp_path, monkeypatch, tracker
):
    monkeypatch.setitem(sys.modules, tracker, None)  # import fails as if it were not installed
    args = (
        "pretrain",
        "--data",
        digit_folder,
        "--out",
        tmp_path / "run",
        *FAST_PRETRAIN,
        "--logger",
        tracker,
    )
    line = one_error_line(invoke(*args))
    assert f"--logger {tracker}" in line and 'pip install "sslcli[tracking]"' in line
    assert not (tmp_path / "run").exists()


def test_private_runs_log_neither_data_nor_run_paths():
    config = {"domain": "medical", "method": "simclr", "data": "/scans/DOE_JOHN", "out": "runs/DOE_JOHN"}
    data_set = {"source": "private folder", "items": 12, "root_fingerprint": "ab12"}
    params = tracking_params({**config, "views": {"window": "lung"}}, data_set, private=True)
    assert not [value for value in params.values() if "DOE" in str(value)]
    assert params["views.window"] == "lung" and params["data_set.items"] == 12
    assert run_name(config, private=True) == "simclr-medical"
    assert tracking_params(config, data_set, private=False)["data"] == "/scans/DOE_JOHN"
