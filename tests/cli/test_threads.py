"""The thread count a run used is recorded, reused by eval, and gives the same run again; the caller's
own thread count is left as it was."""

import json

import torch
from safetensors.torch import load_file

from tests.conftest import FAST_PRETRAIN, invoke


def recorded_threads(run) -> int:
    return json.loads((run / "config.json").read_text())["config"]["threads"]


def test_a_run_records_torchs_default_thread_count(trained_run):
    assert recorded_threads(trained_run) == torch.get_num_threads()


def test_the_same_seed_and_threads_give_the_same_encoder_and_eval_reuses_them(digit_folder, tmp_path):
    before = torch.get_num_threads()
    runs = [tmp_path / "a", tmp_path / "b"]
    for run in runs:
        result = invoke("pretrain", "--data", digit_folder, "--out", run, *FAST_PRETRAIN, "--threads", "1")
        assert result.exit_code == 0, result.output
        assert recorded_threads(run) == 1 and torch.get_num_threads() == before
    first, second = (load_file(run / "encoder.safetensors") for run in runs)
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
    report = json.loads(invoke("eval", "--run", runs[0], "--data", digit_folder, "--json").stdout)
    assert report["threads"] == 1 and torch.get_num_threads() == before
