"""Fused kernels behind sslcli's hot paths (installed as ``sslcli.kernels``).

Each op lives in one file holding its ``autograd.Function``, the public function and the plain-torch
reference that runs on CPU and serves as the test oracle, with its Triton kernels there or in
``<op>_tiles``. Triton runs on CUDA tensors, the reference elsewhere
(``SSLCLI_KERNELS=auto|triton|reference``, see ``dispatch``); ``first_configs`` pins each kernel to its
first autotune config.
"""

from sslcli.kernels._triton import first_configs
from sslcli.kernels.cross_modal import cross_modal_info_nce, cross_modal_info_nce_reference
from sslcli.kernels.info_nce import info_nce, info_nce_reference
from sslcli.kernels.mae_masking import (
    MaskedPatches,
    mae_random_masking,
    mae_random_masking_reference,
    mae_unshuffle,
    mae_unshuffle_reference,
    num_visible,
)
from sslcli.kernels.ntxent import nt_xent, nt_xent_reference

__all__ = [
    "cross_modal_info_nce",
    "cross_modal_info_nce_reference",
    "first_configs",
    "MaskedPatches",
    "info_nce",
    "info_nce_reference",
    "mae_random_masking",
    "mae_random_masking_reference",
    "mae_unshuffle",
    "mae_unshuffle_reference",
    "nt_xent",
    "nt_xent_reference",
    "num_visible",
]
