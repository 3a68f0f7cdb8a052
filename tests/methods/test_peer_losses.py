"""sslcli's losses against a peer implementation, Lightly (``pip install -e ".[peers]"``), on the same
random inputs; skipped when Lightly is not installed.

Conventions reconciled here (inputs fp64 and tolerance 1e-10 relative, except where a side computes
in fp32 -- NT-Xent, the MoCo queue, the DINO centre -- where it is 1e-5):

- NT-Xent: both L2-normalise inside, exclude each row's self-similarity, average over the 2N rows;
  Lightly's default temperature is 0.5, sslcli's SimCLR 0.1, so the temperature is passed to both.
- MoCo v2: Lightly's ``NTXentLoss(memory_bank_size=(K, D))`` is MoCo's InfoNCE with the positive key
  first and the bank as negatives; the bank is read before the current keys are enqueued (as sslcli
  reads its queue) and only when the query requires grad are the keys enqueued. Lightly stops filling
  at the end of the bank and restarts at slot 0 (dropping the overflow) where sslcli wraps around, so
  K is a multiple of the batch size, as MoCo requires; both banks start from the same keys.
- Barlow Twins: both standardise with the biased batch variance plus eps 1e-5 (BatchNorm, as the
  authors' code) and weight the off-diagonal by lambda = 5e-3.
- VICReg: both use 25/25/1 and eps 1e-4, average the two views' variance hinges and sum the two
  covariance terms (the authors' released code).
- Negative cosine: Lightly's ``NegativeCosineSimilarity`` is -mean cos with no stop-gradient of its
  own. SimSiam's D(p, z) is that with z detached; BYOL's regression is 2 - 2 cos = 2 + 2 NCS.
- DINO: Lightly takes (teacher, student) in that order, averages over (teacher i, student j != i)
  pairs and the batch like sslcli, and updates its centre inside ``forward`` with the same
  C <- m C + (1 - m) mean(teacher) (m = 0.9); its teacher-temperature warm-up runs per epoch where
  sslcli's runs per step, so the temperature is passed explicitly to both.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

pytest.importorskip("lightly", minversion="1.5")
lightly_loss = pytest.importorskip("lightly.loss")

from sslcli.kernels import nt_xent  # noqa: E402

from sslcli.distributed import World  # noqa: E402
from sslcli.methods.barlow_twins import barlow_twins_loss  # noqa: E402
from sslcli.methods.byol import byol_regression  # noqa: E402
from sslcli.methods.dino import DINO, dino_loss  # noqa: E402
from sslcli.methods.moco import MoCoV2, moco_loss  # noqa: E402
from sslcli.methods.simsiam import negative_cosine  # noqa: E402
from sslcli.methods.vicreg import vicreg_loss  # noqa: E402

FP64 = dict(rtol=1e-10, atol=1e-12)
FP32 = dict(rtol=1e-5, atol=1e-6)


def leaf(*shape: int, scale: float = 1.0) -> torch.Tensor:
    return (scale * torch.randn(*shape, dtype=torch.float64)).requires_grad_()


def assert_same_loss_and_grads(ours, theirs, inputs, tol) -> None:
    torch.testing.assert_close(ours.double(), theirs.double(), **tol)
    ours_grads = torch.autograd.grad(ours, inputs, retain_graph=True)
    theirs_grads = torch.autograd.grad(theirs, inputs, retain_graph=True)
    for a, b in zip(ours_grads, theirs_grads, strict=True):
        torch.testing.assert_close(a.double(), b.double(), **tol)


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_nt_xent_matches_lightly(temperature):
    torch.manual_seed(0)
    z_a, z_b = leaf(16, 8), leaf(16, 8)
    peer = lightly_loss.NTXentLoss(temperature=temperature)
    assert_same_loss_and_grads(nt_xent(z_a, z_b, temperature), peer(z_a, z_b), (z_a, z_b), FP32)


def test_moco_queue_infonce_matches_lightly_memory_bank():
    torch.manual_seed(1)
    batch, dim, size = 4, 8, 12
    moco = MoCoV2(nn.Flatten(), 3, projection_dim=dim, hidden_dim=16, queue_size=size)
    peer = lightly_loss.NTXentLoss(temperature=0.2, memory_bank_size=(size, dim))
    peer.memory_bank.bank.copy_(moco.queue)  # the same starting negatives
    for _ in range(5):  # over a full turn of the queue and beyond
        q = torch.randn(batch, dim, requires_grad=True)  # fp32: both banks are fp32 buffers
        k = F.normalize(torch.randn(batch, dim), dim=1)
        ours = moco_loss(F.normalize(q, dim=1), k, moco.queue.clone(), 0.2)
        moco._enqueue(k)
        assert_same_loss_and_grads(ours, peer(q, k), (q,), FP32)
        torch.testing.assert_close(peer.memory_bank.bank, moco.queue)


def test_barlow_twins_matches_lightly():
    torch.manual_seed(2)
    z_a, z_b = leaf(16, 8), leaf(16, 8)
    peer = lightly_loss.BarlowTwinsLoss(lambda_param=5e-3)
    assert_same_loss_and_grads(barlow_twins_loss(z_a, z_b, 5e-3), peer(z_a, z_b), (z_a, z_b), FP64)


@pytest.mark.parametrize("scale", [0.3, 2.0])  # variance hinge active / inactive
def test_vicreg_matches_lightly(scale):
    torch.manual_seed(3)
    z_a, z_b = leaf(16, 8, scale=scale), leaf(16, 8, scale=scale)
    peer = lightly_loss.VICRegLoss(lambda_param=25.0, mu_param=25.0, nu_param=1.0, eps=1e-4)
    assert_same_loss_and_grads(vicreg_loss(z_a, z_b), peer(z_a, z_b), (z_a, z_b), FP64)


def test_simsiam_and_byol_match_lightly_negative_cosine():
    torch.manual_seed(4)
    p, z = leaf(16, 8), leaf(16, 8)
    peer = lightly_loss.NegativeCosineSimilarity()
    assert_same_loss_and_grads(negative_cosine(p, z), peer(p, z.detach()), (p,), FP64)
    assert_same_loss_and_grads(byol_regression(p, z.detach()), 2 + 2 * peer(p, z.detach()), (p,), FP64)


def test_dino_loss_and_centre_match_lightly():
    torch.manual_seed(5)
    batch, out_dim = 4, 10
    dino = DINO(nn.Flatten(), 3, out_dim=out_dim, center_momentum=0.9)
    peer = lightly_loss.DINOLoss(output_dim=out_dim, student_temp=0.1, center_momentum=0.9)
    for step, teacher_temp in enumerate([0.04, 0.055, 0.07]):
        teacher = [torch.randn(batch, out_dim, dtype=torch.float64) for _ in range(2)]  # global crops
        student = [leaf(batch, out_dim) for _ in range(2 + step)]  # global crops, then 0..2 local crops
        ours = dino_loss(student, teacher, dino.center.double(), 0.1, teacher_temp)
        dino._update_center(torch.cat(teacher).float(), World())
        theirs = peer(teacher, student, teacher_temp=teacher_temp)
        assert_same_loss_and_grads(ours, theirs, tuple(student), FP32)  # centres are kept in fp32
        torch.testing.assert_close(peer.center.view(1, out_dim).float(), dino.center)
