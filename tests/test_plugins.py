"""A method from another distribution: installed with pip into a folder of its own, found through
its ``sslcli.methods`` entry point, listed, trained, embedded with and evaluated — no sslcli file edited."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FAST_PRETRAIN, write_digit_folder

PLUGIN_SOURCE = '''
"""Alignment and uniformity on the hypersphere: Wang & Isola, "Understanding Contrastive
Representation Learning through Alignment and Uniformity on the Hypersphere", ICML 2020."""

import torch
import torch.nn.functional as F

from sslcli.methods.base import Method, StepOutput, view_tensors


class AlignUniform(Method):
    name = "align_uniform"
    description = "plug-in: alignment of two views + uniformity on the hypersphere"
    paper = "Wang & Isola, ICML 2020"
    family = "two_views"
    accepts = ("image2d",)
    log_names = ("alignment",)

    def __init__(self, backbone, feature_dim: int, projection_dim: int = 32):
        super().__init__(backbone, feature_dim)
        self.head = torch.nn.Linear(feature_dim, projection_dim)

    def forward(self, views, ctx):
        a, b = (F.normalize(self.head(self.backbone(x)), dim=1) for x in view_tensors(views))  # (B, P)
        alignment = (a - b).pow(2).sum(dim=1).mean()
        uniformity = torch.pdist(a).pow(2).mul(-2).exp().mean().log()
        return StepOutput(alignment + uniformity, {"alignment": alignment.item()})
'''

PYPROJECT = """
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "sslcli-align-uniform"
version = "0.1"

[project.entry-points."sslcli.methods"]
align_uniform = "align_uniform:AlignUniform"

[tool.setuptools]
py-modules = ["align_uniform"]
"""


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    """The plug-in distribution built and installed by pip into its own folder (no network)."""
    source, site = tmp_path_factory.mktemp("plugin_source"), tmp_path_factory.mktemp("plugin_site")
    (source / "align_uniform.py").write_text(PLUGIN_SOURCE)
    (source / "pyproject.toml").write_text(PYPROJECT)
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run([*install, "--no-index", "--target", str(site), str(source)], check=True)
    return site


def sslcli(site: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "sslcli", *args], capture_output=True, text=True, env=env)


def test_a_plugin_method_is_listed_with_the_domains_its_kinds_fit(plugin_site):
    listed = sslcli(plugin_site, "methods")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.strip().startswith("align_uniform"))
    assert "medical, natural" in row and "audio" not in row  # image2d: computed, never listed
    shown = sslcli(plugin_site, "methods", "--show", "align_uniform")
    assert "Wang & Isola, ICML 2020" in shown.stdout and "projection_dim" in shown.stdout
    assert "align_uniform" not in sslcli(Path("/nonexistent"), "methods").stdout  # only where installed


def test_a_plugin_method_trains_embeds_and_evaluates(plugin_site, tmp_path):
    data = write_digit_folder(tmp_path / "digits")
    run = tmp_path / "run"
    trained = sslcli(
        plugin_site,
        "pretrain",
        "--method",
        "align_uniform",
        "--data",
        str(data),
        "--out",
        str(run),
        "--seed",
        "0",
        "--logger",
        "none",
        *FAST_PRETRAIN,
    )
    assert trained.returncode == 0, trained.stderr
    assert '"method": "align_uniform"' in (run / "config.json").read_text()
    assert "alignment" in (run / "metrics.csv").read_text().splitlines()[0]
    embedded = sslcli(
        plugin_site, "embed", "--run", str(run), "--data", str(data), "--out", str(tmp_path / "emb")
    )
    assert embedded.returncode == 0, embedded.stderr
    evaluated = sslcli(plugin_site, "eval", "--run", str(run), "--data", str(data), "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert '"knn"' in evaluated.stdout


def test_a_plugin_method_on_a_domain_it_does_not_fit_is_one_line(plugin_site, tmp_path):
    refused = sslcli(
        plugin_site, "pretrain", "--domain", "audio", "--method", "align_uniform", "--out", str(tmp_path)
    )
    errors = [line for line in refused.stderr.splitlines() if line.startswith("Error:")]
    assert refused.returncode == 1 and len(errors) == 1 and "Traceback" not in refused.stderr
    assert "method 'align_uniform' does not support domain 'audio' (spectrogram inputs)" in errors[0]
    assert "it accepts: image2d" in errors[0] and "simclr" in errors[0]  # what does fit audio
