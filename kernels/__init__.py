"""Fused kernels behind sslcli's hot paths (installed as ``sslcli.kernels``).

Each op lives in one file holding its Triton kernels, its ``autograd.Function``, the public
function and the plain-torch reference that runs on CPU and serves as the test oracle.
"""

from sslcli.kernels.ntxent import nt_xent, nt_xent_reference

__all__ = ["nt_xent", "nt_xent_reference"]
