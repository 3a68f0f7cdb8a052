"""NT-Xent on inputs whose loss has a closed form."""

import math

import pytest
import torch
from sslcli.kernels import nt_xent_reference


@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0])
def test_orthonormal_pairs(temperature):
    # Views equal, N=2 orthonormal rows: each row sees its positive (cos 1) and two negatives (cos 0).
    z = torch.eye(2, 5)
    expected = math.log(math.exp(1 / temperature) + 2) - 1 / temperature
    assert nt_xent_reference(z, z.clone(), temperature).item() == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_scale_invariance_and_antipodal_negatives():
    # Rows are normalised, so scaling changes nothing; with N=1 the only other row is the positive: loss 0.
    a, b = torch.tensor([[3.0, 4.0]]), torch.tensor([[-1.0, 2.0]])
    assert nt_xent_reference(a, b, 0.2).item() == pytest.approx(0.0, abs=1e-6)
    z_a = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    loss = nt_xent_reference(z_a * 7, z_a, 0.5).item()
    # row 0: positive cos 1, negatives cos -1 (row 1) and -1 (row 3): log(e^2 + 2e^-2) - 2
    assert loss == pytest.approx(math.log(math.exp(2) + 2 * math.exp(-2)) - 2, rel=1e-6)
