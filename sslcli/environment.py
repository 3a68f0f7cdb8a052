"""What ``sslcli env`` reports: versions, the device, which kernels would run and the cache folders,
the facts a bug report needs. Package versions are read from their metadata, never by importing them."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from sslcli import __version__
from sslcli.domains.sample_cache import cache_root
from sslcli.engine.acceleration import trains_in_bf16
from sslcli.kernels._triton import triton_available
from sslcli.kernels.dispatch import use_triton
from sslcli.registry import KERNELS

PACKAGES = (
    "torch", "torchvision", "torchaudio", "triton", "kornia", "numpy", "pydantic", "pydicom", "av",
    "soundfile", "safetensors", "pyarrow", "scikit-learn", "pillow",
)  # fmt: skip


def package_versions() -> dict[str, str | None]:
    """Installed version of each of ``PACKAGES`` (None: not installed)."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def device_report() -> dict[str, Any]:
    """The CUDA devices (name, compute capability, memory), the CPU threads torch uses and the precision
    ``--precision auto`` trains in on the CPU."""
    cuda = torch.cuda.is_available()
    devices = []
    for index in range(torch.cuda.device_count() if cuda else 0):
        props = torch.cuda.get_device_properties(index)
        devices.append(
            {
                "name": props.name,
                "capability": f"{props.major}.{props.minor}",
                "memory_gib": props.total_memory / 2**30,
            }
        )
    return {
        "default": "cuda" if cuda else "cpu",
        "cuda_available": cuda,
        "cuda_runtime": torch.version.cuda,
        "cuda_devices": devices,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_trains_in": "bf16"
        if trains_in_bf16(torch.device("cpu"), "auto")
        else "fp32",  # --precision auto
    }


def kernel_report(default_device: str) -> dict[str, Any]:
    """The registered fused ops, and which implementation they take on the default device."""
    forced = os.environ.get("SSLCLI_KERNELS", "auto")
    try:
        triton = use_triton(torch.empty(0, device=default_device))
        runs = "triton" if triton and triton_available() else "reference (plain torch)"
        if runs == "triton" and default_device == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
            runs = "triton, which on a CPU fails without TRITON_INTERPRET=1"
    except ValueError as err:  # a bad SSLCLI_KERNELS value: the report says so instead of failing
        runs = f"error: {err}"
    return {
        "runs": runs,
        "ops": list(KERNELS),
        "SSLCLI_KERNELS": forced,
        "TRITON_INTERPRET": os.environ.get("TRITON_INTERPRET", ""),
        "triton_installed": triton_available(),
    }


def cache_folders() -> dict[str, str]:
    """Where sslcli keeps its built-in samples, and where Triton and inductor keep compiled kernels."""
    user = os.environ.get("USER", "") or str(os.getuid())
    triton = os.environ.get("TRITON_CACHE_DIR") or str(Path.home() / ".triton" / "cache")
    inductor = os.environ.get("TORCHINDUCTOR_CACHE_DIR") or str(
        Path(tempfile.gettempdir()) / f"torchinductor_{user}"
    )
    return {
        "samples": str(cache_root()),
        "triton": triton,
        "inductor": inductor,
    }


def environment_report() -> dict[str, Any]:
    device = device_report()
    return {
        "sslcli": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "device": device,
        "kernels": kernel_report(device["default"]),
        "caches": cache_folders(),
    }
