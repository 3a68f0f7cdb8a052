"""An embed job killed part-way and run again produces the same files as one uninterrupted run."""

import numpy as np
import pytest
from rich.console import Console

import sslcli.jobs.embed as embed_module
from sslcli.jobs.embed import embed_corpus


def run_embed(run, data, out):
    return embed_corpus(
        run,
        data,
        out,
        batch_size=5,
        device_name="cpu",
        on_error="raise",
        num_workers=0,
        console=Console(quiet=True),
    )


def test_interrupted_embed_resumes_to_identical_output(trained_run, tmp_path, monkeypatch):
    data = trained_run.parent / "data"
    run_embed(trained_run, data, tmp_path / "whole")

    original = embed_module.feature_batches

    def killed_after_three_batches(*args, **kwargs):
        for count, batch in enumerate(original(*args, **kwargs)):
            if count == 3:
                raise KeyboardInterrupt
            yield batch

    monkeypatch.setattr(embed_module, "feature_batches", killed_after_three_batches)
    with pytest.raises(KeyboardInterrupt):
        run_embed(trained_run, data, tmp_path / "split")
    assert np.load(tmp_path / "split" / "embeddings.npy").shape[0] == 15
    monkeypatch.setattr(embed_module, "feature_batches", original)
    result = run_embed(trained_run, data, tmp_path / "split")
    assert not result.already_done and result.rows == 36

    whole, split = (
        np.load(tmp_path / "whole" / "embeddings.npy"),
        np.load(tmp_path / "split" / "embeddings.npy"),
    )
    assert np.allclose(whole, split, atol=1e-5)
    assert (tmp_path / "whole" / "index.csv").read_text() == (tmp_path / "split" / "index.csv").read_text()
    assert run_embed(trained_run, data, tmp_path / "split").already_done


def test_embed_refuses_an_output_folder_of_another_job(trained_run, tmp_path):
    from sslcli.errors import UserError

    data = trained_run.parent / "data"
    run_embed(trained_run, data, tmp_path / "out")
    with pytest.raises(UserError, match="another encoder or data set"):
        run_embed(trained_run, data / "0", tmp_path / "out")
