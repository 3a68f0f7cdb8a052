"""The interpreter path works even when Triton was imported before TRITON_INTERPRET=1 was set.

torch imports Triton for its optimizers and torch.compile, so in a long test session (or a user's
process) triton.language is often loaded in compiled mode first; kernels/_triton.py copes with that.
"""

import os
import subprocess
import sys

SCRIPT = """
import os, torch
import triton.language  # compiled mode: TRITON_INTERPRET is not set yet
os.environ["TRITON_INTERPRET"] = "1"
os.environ["SSLCLI_KERNELS"] = "triton"
from sslcli.kernels import mae_random_masking, mae_random_masking_reference, nt_xent, nt_xent_reference
z_a, z_b = torch.randn(37, 20, requires_grad=True), torch.randn(37, 20)
torch.testing.assert_close(nt_xent(z_a, z_b, 0.2), nt_xent_reference(z_a, z_b, 0.2), rtol=1e-5, atol=1e-6)
tokens, noise = torch.randn(2, 30, 4), torch.rand(2, 30)
out = mae_random_masking(tokens, 0.5, noise=noise)
ref = mae_random_masking_reference(tokens, 0.5, noise=noise)
assert all(torch.equal(a, b) for a, b in zip(out, ref))
assert mae_random_masking(tokens, 0.5, seed=3).mask.sum().item() == 30  # in-kernel Philox noise (tl.rand)
print("ok")
"""


def test_kernels_interpret_after_a_compiled_mode_import():
    env = {key: value for key, value in os.environ.items() if key != "TRITON_INTERPRET"}
    run = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-4000:]
