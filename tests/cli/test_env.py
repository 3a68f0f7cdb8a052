"""``sslcli env``: the versions, threads, kernel choice and caches it reports are the ones in effect."""

import json

import pytest
import torch

from tests.conftest import invoke


def env_report() -> dict:
    result = invoke("env", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_env_reports_what_is_in_effect(monkeypatch, tmp_path):
    monkeypatch.setenv("SSLCLI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path / "triton"))
    report = env_report()
    assert report["packages"]["torch"] == torch.__version__.split("+")[0]
    assert report["device"]["torch_threads"] == torch.get_num_threads()
    assert report["device"]["cuda_available"] == torch.cuda.is_available()
    assert report["caches"]["samples"] == str(tmp_path / "cache")
    assert report["caches"]["triton"] == str(tmp_path / "triton")


@pytest.mark.parametrize(("amx", "precision"), [(True, "bf16"), (False, "fp32")])
def test_env_names_the_precision_a_cpu_trains_in(monkeypatch, amx, precision):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert env_report()["device"]["cpu_trains_in"] == precision
    result = invoke("env")
    assert f"trains in {precision}" in result.stdout


@pytest.mark.parametrize(("forced", "runs"), [("reference", "reference"), ("bogus", "error: SSLCLI_KERNELS")])
def test_env_names_the_kernels_that_would_run(monkeypatch, forced, runs):
    monkeypatch.setenv("SSLCLI_KERNELS", forced)
    kernels = env_report()["kernels"]
    assert kernels["runs"].startswith(runs) and kernels["SSLCLI_KERNELS"] == forced


def test_env_on_cpu_runs_the_reference_unless_triton_is_forced(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("on a CUDA machine auto picks Triton")
    monkeypatch.delenv("SSLCLI_KERNELS", raising=False)
    assert env_report()["kernels"]["runs"].startswith("reference")
    monkeypatch.setenv("SSLCLI_KERNELS", "triton")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert "fails without TRITON_INTERPRET=1" in env_report()["kernels"]["runs"]
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert env_report()["kernels"]["runs"] == "triton"


def test_env_table_fits_80_columns(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    result = invoke("env")
    assert result.exit_code == 0 and "kernels" in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80


def test_env_lists_every_fused_op_the_kernel_registry_loads_with_its_oracle():
    import sslcli.kernels as kernels

    from sslcli.registry import KERNELS

    assert env_report()["kernels"]["ops"] == list(KERNELS)
    assert {"nt_xent", "info_nce", "cross_modal_info_nce", "mae_random_masking", "mae_unshuffle"} <= set(
        KERNELS
    )
    for name, op in KERNELS.items():
        assert op.fused is getattr(kernels, name) and op.reference is getattr(kernels, f"{name}_reference")
