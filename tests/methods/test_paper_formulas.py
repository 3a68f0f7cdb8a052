"""Every method's loss against its paper's formula or pseudo-code, written here in plain torch.

The references below are transcribed from the papers (and, where the paper's pseudo-code and the
authors' released code differ, the choice is stated) without calling sslcli: they see only the tensors
a method hands between its modules, captured with forward hooks. Each test checks

- the loss function at fp64 against the reference, value and gradient (tolerance 1e-10 relative,
  except NT-Xent, which sslcli evaluates in fp32: 1e-5);
- the method's ``forward`` wiring (which view pairs with which, symmetrisation, stop-gradients,
  labels and targets of the pretext tasks) on a tiny model in fp32 (tolerance 1e-5 relative).

tests/methods/test_losses.py holds the closed forms, naive loops and invariances these do not repeat.
"""

from __future__ import annotations

import contextlib
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from sslcli.domains import ChannelNormalisation, InputSpec
from sslcli.kernels import nt_xent

from sslcli.methods import StepContext
from sslcli.methods.barlow_twins import BarlowTwins, barlow_twins_loss
from sslcli.methods.byol import BYOL, byol_regression
from sslcli.methods.colorization import Colorization
from sslcli.methods.deepcluster import DeepCluster
from sslcli.methods.denoising import DenoisingAutoencoder
from sslcli.methods.dino import DINO, dino_loss
from sslcli.methods.inpainting import Inpainting
from sslcli.methods.jigsaw import Jigsaw
from sslcli.methods.mae import MAE, masked_patch_loss, normalised_patches
from sslcli.methods.moco import MoCoV2, moco_loss
from sslcli.methods.relative_patch import RelativePatchLocation
from sslcli.methods.rotnet import RotNet
from sslcli.methods.simclr import SimCLR
from sslcli.methods.simsiam import SimSiam, negative_cosine
from sslcli.methods.super_resolution import SuperResolution
from sslcli.methods.vicreg import VICReg, vicreg_loss
from sslcli.models import build_backbone
from tests.conftest import as_views

FP64 = dict(rtol=1e-10, atol=1e-12)
FP32 = dict(rtol=1e-5, atol=1e-6)
B, SIDE = 6, 16
SQUARE_RGB = InputSpec("image2d", 3, (SIDE, SIDE), colour=True)  # what pixel targets are sized to


class TinyBackbone(nn.Module):
    """(B, C, H, W) -> (B, F) for any H, W: 2x2 average pooling and a linear map."""

    def __init__(self, channels: int = 3, dim: int = 8):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(4 * channels, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(x).flatten(1))


def tiny() -> tuple[nn.Module, int]:
    return TinyBackbone(), 8


@contextlib.contextmanager
def record(module: nn.Module, inputs: bool = False):
    """Collect what ``module`` returns (or, with ``inputs``, its positional arguments) on each call."""
    seen: list = []
    if inputs:
        handle = module.register_forward_pre_hook(lambda m, args: seen.append(args))
    else:
        handle = module.register_forward_hook(lambda m, args, out: seen.append(out))
    try:
        yield seen
    finally:
        handle.remove()


def leaf(t: torch.Tensor) -> torch.Tensor:
    return t.detach().double().requires_grad_()


def grad_of(loss: torch.Tensor, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return torch.autograd.grad(loss, tensors, retain_graph=True, allow_unused=True)


def assert_same(got: torch.Tensor, want: torch.Tensor, tol: dict) -> None:
    torch.testing.assert_close(got.double(), want.double(), **tol)


def views(n: int = 2, side: int = SIDE) -> list[torch.Tensor]:
    return [torch.randn(B, 3, side, side) for _ in range(n)]


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over rows of -log softmax(logits)[label], the classification loss of every pretext paper."""
    logits = logits.double()
    log_z = logits.max(1).values + torch.log(torch.exp(logits - logits.max(1, keepdim=True).values).sum(1))
    return -(logits[torch.arange(len(labels)), labels] - log_z).mean()


# --- SimCLR: Chen, Kornblith, Norouzi, Hinton, ICML 2020, Algorithm 1 and Eq. (1) ------------------


def simclr_algorithm_1(z_a: torch.Tensor, z_b: torch.Tensor, tau: float) -> torch.Tensor:
    """Samples 2k-1, 2k are the two views of image k; s_ij = cosine similarity;
    l(i, j) = -log exp(s_ij / tau) / sum_{k != i} exp(s_ik / tau);
    L = 1 / 2N sum_k [l(2k-1, 2k) + l(2k, 2k-1)]."""
    n = len(z_a)
    z = torch.stack([row for k in range(n) for row in (z_a[k], z_b[k])])  # interleaved, (2N, D)
    norms = z.norm(dim=1)
    s = z @ z.T / (norms[:, None] * norms[None, :])

    def pair_loss(i: int, j: int) -> torch.Tensor:  # l(i, j)
        others = torch.cat([s[i, :i], s[i, i + 1 :]]) / tau
        return -(s[i, j] / tau - torch.logsumexp(others, dim=0))

    return sum(pair_loss(2 * k, 2 * k + 1) + pair_loss(2 * k + 1, 2 * k) for k in range(n)) / (2 * n)


def test_simclr_nt_xent_is_algorithm_1():
    torch.manual_seed(0)
    z_a, z_b = leaf(torch.randn(B, 5)), leaf(torch.randn(B, 5))
    got, want = nt_xent(z_a, z_b, 0.1), simclr_algorithm_1(z_a, z_b, 0.1)
    assert_same(got, want, FP32)  # sslcli evaluates NT-Xent in fp32
    for g, w in zip(grad_of(got, z_a, z_b), grad_of(want, z_a, z_b), strict=True):
        assert_same(g, w, FP32)

    simclr = SimCLR(*tiny(), projection_dim=5, hidden_dim=16, temperature=0.1)
    with record(simclr.projector) as z:
        loss = simclr(as_views(views()), StepContext()).loss
    (z,) = z  # (2B, P), one projector pass over both views, view a first
    assert_same(loss, simclr_algorithm_1(z[:B].double(), z[B:].double(), 0.1), FP32)


# --- MoCo v2: He et al., CVPR 2020, Algorithm 1; Chen et al. 2020 (MLP head, normalised q, k, t=0.2) ---


def moco_algorithm_1(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, t: float) -> torch.Tensor:
    """l_pos = q . k (N, 1), l_neg = q . queue (N, K), CrossEntropy(cat[l_pos, l_neg] / t, label 0);
    q and k L2-normalised, k without gradient; ``queue`` (K, C) is already normalised."""
    q, k = F.normalize(q, dim=1), F.normalize(k, dim=1).detach()
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.T], dim=1) / t
    return -(logits[:, 0] - torch.logsumexp(logits, dim=1)).mean()


def test_moco_loss_and_fifo_queue_follow_algorithm_1():
    torch.manual_seed(1)
    q, k = leaf(torch.randn(B, 4)), leaf(torch.randn(B, 4))
    queue = F.normalize(torch.randn(10, 4, dtype=torch.float64), dim=1)
    got = moco_loss(F.normalize(q, dim=1), F.normalize(k, dim=1).detach(), queue, 0.2)
    want = moco_algorithm_1(q, k, queue, 0.2)
    assert_same(got, want, FP64)
    assert_same(grad_of(got, q)[0], grad_of(want, q)[0], FP64)

    moco = MoCoV2(*tiny(), projection_dim=4, hidden_dim=16, queue_size=2 * B)
    fifo = moco.queue.clone()  # oldest first: the queue is filled from slot 0
    for _ in range(3):  # the third step dequeues keys the first step enqueued
        with record(moco.projector) as q, record(moco.key_projector) as k:
            loss = moco(as_views(views()), StepContext()).loss
        (q,), (k,) = q, k
        assert not k.requires_grad  # keys come from the momentum encoder, no gradient
        assert_same(loss, moco_algorithm_1(q.double(), k.double(), fifo.double(), 0.2), FP32)
        fifo = torch.cat([fifo[B:], F.normalize(k, dim=1)])  # enqueue the newest, dequeue the oldest


# --- BYOL: Grill et al., NeurIPS 2020, Eq. (2) and the symmetrised loss -----------------------------


def byol_symmetrised(p_a, p_b, z_a, z_b) -> torch.Tensor:
    """L = || p/|p| - z'/|z'| ||^2 per pair, mean over the batch; L_total = L(p_a, z'_b) + L(p_b, z'_a),
    the target projections z' under stop-gradient."""

    def regression(p, z):
        return (F.normalize(p, dim=1) - F.normalize(z.detach(), dim=1)).pow(2).sum(1).mean()

    return regression(p_a, z_b) + regression(p_b, z_a)


def test_byol_regression_is_the_papers_normalised_l2():
    torch.manual_seed(2)
    p, z = leaf(torch.randn(B, 5)), leaf(torch.randn(B, 5))
    got = byol_regression(p, z.detach())
    want = (F.normalize(p, dim=1) - F.normalize(z.detach(), dim=1)).pow(2).sum(1).mean()
    assert_same(got, want, FP64)
    assert_same(grad_of(got, p)[0], grad_of(want, p)[0], FP64)

    byol = BYOL(*tiny(), projection_dim=5, hidden_dim=16)
    with record(byol.predictor) as p, record(byol.target_projector) as z:
        loss = byol(as_views(views()), StepContext()).loss
    (p,), (z,) = p, z  # (2B, P) each, view a first
    assert not z.requires_grad
    assert_same(loss, byol_symmetrised(p[:B].double(), p[B:].double(), z[:B].double(), z[B:].double()), FP32)


# --- SimSiam: Chen & He, CVPR 2021, Algorithm 1 -----------------------------------------------------


def simsiam_d(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """D(p, z) = -(normalize(p) * normalize(z.detach())).sum(dim=1).mean()."""
    return -(F.normalize(p, dim=1) * F.normalize(z.detach(), dim=1)).sum(1).mean()


def test_simsiam_is_algorithm_1_with_the_stop_gradient():
    torch.manual_seed(3)
    p, z = leaf(torch.randn(B, 5)), leaf(torch.randn(B, 5))
    got, want = negative_cosine(p, z), simsiam_d(p, z)
    assert_same(got, want, FP64)
    assert_same(grad_of(got, p)[0], grad_of(want, p)[0], FP64)
    assert grad_of(got, z)[0] is None

    simsiam = SimSiam(*tiny(), projection_dim=6, predictor_dim=4)
    with record(simsiam.projector) as z, record(simsiam.predictor) as p:
        loss = simsiam(as_views(views()), StepContext()).loss
    (z,), (p,) = z, p  # (2B, P) each
    z1, z2, p1, p2 = z[:B], z[B:], p[:B], p[B:]
    assert_same(loss, simsiam_d(p1.double(), z2.double()) / 2 + simsiam_d(p2.double(), z1.double()) / 2, FP32)
    # stop-gradient: every gradient reaching z flows through the predictor, none directly from D
    d_loss_d_p, d_loss_d_z = grad_of(loss, p, z)
    (through_p,) = torch.autograd.grad(p, z, grad_outputs=d_loss_d_p, retain_graph=True)
    assert_same(d_loss_d_z, through_p, FP32)


# --- DINO: Caron et al., ICCV 2021, Algorithm 1 and Eq. (3) ----------------------------------------


def dino_h(t: torch.Tensor, s: torch.Tensor, center: torch.Tensor, tps: float, tpt: float) -> torch.Tensor:
    """H(t, s) = -(softmax((t - C) / tpt) * log softmax(s / tps)).sum(dim=1).mean(), t detached."""
    t = F.softmax((t.detach() - center) / tpt, dim=1)
    return -(t * torch.log(F.softmax(s / tps, dim=1))).sum(dim=1).mean()


def dino_multi_crop(teacher, student, center, tps, tpt) -> torch.Tensor:
    """Eq. (3): H(P_t(x), P_s(x')) over teacher global crops x and student crops x' != x, averaged over
    the pairs as in the authors' code (Eq. (3) writes the sum)."""
    terms = [
        dino_h(t, s, center, tps, tpt) for i, t in enumerate(teacher) for j, s in enumerate(student) if i != j
    ]
    return sum(terms) / len(terms)


def test_dino_loss_is_algorithm_1_and_its_multi_crop_form():
    torch.manual_seed(4)
    teacher = [torch.randn(B, 7, dtype=torch.float64) for _ in range(2)]
    student = [leaf(torch.randn(B, 7)) for _ in range(2)]
    center = torch.randn(1, 7, dtype=torch.float64)
    (t1, t2), (s1, s2) = teacher, student
    got = dino_loss(student, teacher, center, 0.1, 0.04)
    want = dino_h(t1, s2, center, 0.1, 0.04) / 2 + dino_h(t2, s1, center, 0.1, 0.04) / 2  # Algorithm 1
    assert_same(got, want, FP64)
    for g, w in zip(grad_of(got, s1, s2), grad_of(want, s1, s2), strict=True):
        assert_same(g, w, FP64)
    student += [leaf(torch.randn(B, 7)) for _ in range(3)]  # local crops
    got = dino_loss(student, teacher, center, 0.1, 0.07)
    assert_same(got, dino_multi_crop(teacher, student, center, 0.1, 0.07), FP64)

    dino = DINO(*tiny(), out_dim=7)
    dino.center.copy_(torch.randn(1, 7))  # a non-trivial centre
    center = dino.center.clone()
    with record(dino.head) as student, record(dino.teacher_head) as teacher:
        loss = dino(as_views(views() + views(2, side=8)), StepContext()).loss  # 2 global + 2 local crops
    student = [s.double() for out in student for s in out.chunk(len(out) // B)]  # crops in view order
    teacher = [t.double() for t in teacher[0].chunk(2)]  # the teacher sees the global crops only
    assert len(student) == 4 and len(teacher) == 2
    # at the start of training the teacher temperature is the warm-up value 0.04; the student's is 0.1
    assert_same(loss, dino_multi_crop(teacher, student, center.double(), 0.1, 0.04), FP32)
    new_center = 0.9 * center + 0.1 * torch.cat(teacher).mean(0, keepdim=True)  # C <- m C + (1 - m) mean
    assert_same(dino.center, new_center, FP32)


# --- Barlow Twins: Zbontar et al., ICML 2021, Algorithm 1 -------------------------------------------


def barlow_algorithm_1(z_a: torch.Tensor, z_b: torch.Tensor, lambd: float = 5e-3) -> torch.Tensor:
    """c = z_a_norm.T @ z_b_norm / N; loss = sum_i (1 - c_ii)^2 + lambda sum_{i != j} c_ij^2.

    "Normalise along the batch dimension": the pseudo-code writes (z - mean) / std; the authors' code
    does it with BatchNorm1d(affine=False), i.e. the biased variance plus eps 1e-5, which is used here
    (the unbiased std would scale c by (N - 1) / N). Lightly's BarlowTwinsLoss does the same."""

    def norm(z):
        return (z - z.mean(0)) / torch.sqrt(z.var(0, unbiased=False) + 1e-5)

    n, d = z_a.shape
    c = norm(z_a).T @ norm(z_b) / n
    c_diff = (c - torch.eye(d, dtype=c.dtype)).pow(2)
    off_diagonal = ~torch.eye(d, dtype=torch.bool)
    return c_diff[~off_diagonal].sum() + lambd * c_diff[off_diagonal].sum()


def test_barlow_twins_is_algorithm_1():
    torch.manual_seed(5)
    z_a, z_b = leaf(torch.randn(B, 5)), leaf(torch.randn(B, 5))
    got, want = barlow_twins_loss(z_a, z_b, 5e-3), barlow_algorithm_1(z_a, z_b, 5e-3)
    assert_same(got, want, FP64)
    for g, w in zip(grad_of(got, z_a, z_b), grad_of(want, z_a, z_b), strict=True):
        assert_same(g, w, FP64)

    barlow = BarlowTwins(*tiny(), projection_dim=5, hidden_dim=16)
    assert barlow.off_diagonal_weight == 5e-3
    with record(barlow.projector) as z:
        loss = barlow(as_views(views()), StepContext()).loss
    (z,) = z
    assert_same(loss, barlow_algorithm_1(z[:B].double(), z[B:].double()), FP32)


# --- VICReg: Bardes, Ponce, LeCun, ICLR 2022, Algorithm 1 / the authors' main_vicreg.py -------------


def vicreg_algorithm_1(z_a, z_b, lambd=25.0, mu=25.0, nu=1.0, average_variance=True) -> torch.Tensor:
    """sim = mse(z_a, z_b); std = sqrt(var(z, dim=0) + 1e-4); std_loss = mean(relu(1 - std_a)) / 2 +
    mean(relu(1 - std_b)) / 2 (the authors' released code; the paper's printed loss sums the two,
    ``average_variance=False``); cov = z_c.T @ z_c / (N - 1) of the centred z_c; cov_loss =
    off_diagonal(cov_a)^2.sum() / D + off_diagonal(cov_b)^2.sum() / D;
    loss = lambda sim + mu std_loss + nu cov_loss."""
    n, d = z_a.shape
    sim = (z_a - z_b).pow(2).mean()
    hinges = [torch.relu(1 - torch.sqrt(z.var(dim=0) + 1e-4)).mean() for z in (z_a, z_b)]
    std_loss = sum(hinges) / 2 if average_variance else sum(hinges)
    off_diagonal = ~torch.eye(d, dtype=torch.bool)
    cov_loss = 0.0
    for z in (z_a, z_b):
        centred = z - z.mean(dim=0)
        cov = centred.T @ centred / (n - 1)
        cov_loss = cov_loss + cov[off_diagonal].pow(2).sum() / d
    return lambd * sim + mu * std_loss + nu * cov_loss


def test_vicreg_is_algorithm_1_with_the_variance_hinges_averaged():
    torch.manual_seed(6)
    z_a, z_b = leaf(0.3 * torch.randn(B, 5)), leaf(0.3 * torch.randn(B, 5))  # std < 1: hinges active
    got, want = vicreg_loss(z_a, z_b), vicreg_algorithm_1(z_a, z_b)
    assert_same(got, want, FP64)
    for g, w in zip(grad_of(got, z_a, z_b), grad_of(want, z_a, z_b), strict=True):
        assert_same(g, w, FP64)
    summed = vicreg_algorithm_1(z_a, z_b, average_variance=False)
    assert summed.item() > got.item() + 1  # the summed hinges (the former sslcli loss) are far off

    vicreg = VICReg(*tiny(), projection_dim=5, hidden_dim=16)
    with record(vicreg.projector) as z:
        loss = vicreg(as_views(views()), StepContext()).loss
    (z,) = z
    assert_same(loss, vicreg_algorithm_1(z[:B].double(), z[B:].double()), FP32)


def test_vicreg_variance_weight_in_closed_form():
    """Identical views with uncorrelated columns of std s: only the variance term is left, and it is
    mu * (1 - sqrt(s^2 + 1e-4)) -- once, not twice, for the two views."""
    signs = torch.tensor([[1, 1], [1, -1], [-1, 1], [-1, -1]], dtype=torch.float64)  # uncorrelated columns
    s = 0.5
    z = signs * s * math.sqrt(3 / 4)  # unbiased variance over 4 rows: s^2
    assert vicreg_loss(z, z.clone()).item() == pytest.approx(25 * (1 - math.sqrt(s**2 + 1e-4)), rel=1e-12)


# --- Pretext classification: cross-entropy on the label of the transformation applied ---------------


def test_rotnet_classifies_all_four_rotations_with_cross_entropy():
    """Gidaris et al., ICLR 2018: loss = 1/K sum_y -log F^y(g(X, y)) over the K = 4 rotations of X."""
    torch.manual_seed(7)
    rotnet = RotNet(*tiny())
    (images,) = views(1)
    with record(rotnet.backbone, inputs=True) as seen, record(rotnet.classifier) as logits:
        loss = rotnet(as_views([images]), StepContext()).loss
    shown, logits = seen[0][0], logits[0]
    labels, pairs = [], set()
    for row in shown:  # which image, rotated by how many quarter turns (counter-clockwise)?
        (match,) = [
            (b, k) for b in range(B) for k in range(4) if torch.equal(row, torch.rot90(images[b], k, (1, 2)))
        ]
        pairs.add(match)
        labels.append(match[1])
    assert len(pairs) == 4 * B  # every image in every rotation, once
    assert_same(loss, cross_entropy(logits, torch.tensor(labels)), FP32)


def grid_cells(images: torch.Tensor) -> torch.Tensor:
    """(B, C, S, S) -> the 3x3 grid's cells, row-major and each standardised: (B, 9, C, s, s)."""
    s = images.shape[-1] // 3
    cells = torch.stack(
        [images[:, :, r * s : (r + 1) * s, c * s : (c + 1) * s] for r in range(3) for c in range(3)], dim=1
    )
    mean = cells.mean(dim=(2, 3, 4), keepdim=True)
    return (cells - mean) / cells.std(dim=(2, 3, 4), keepdim=True, correction=0)


def which_cell(tile: torch.Tensor, cells: torch.Tensor) -> int:
    """Index of the cell (9, C, s, s) that ``tile`` (C, s, s) shows."""
    distance = (cells - tile).flatten(1).norm(dim=1)
    assert distance.min() < 1e-3
    return int(distance.argmin())


def test_jigsaw_predicts_the_index_of_the_applied_permutation():
    """Noroozi & Favaro, ECCV 2016: the 9 tiles go through the shared network in the order of one
    permutation from a fixed set; cross-entropy on that permutation's index."""
    torch.manual_seed(8)
    jigsaw = Jigsaw(*tiny(), num_permutations=10, tile_keep=1.0, hidden_dim=16)  # no jitter: exact tiles
    (images,) = views(1)
    with record(jigsaw.backbone, inputs=True) as seen, record(jigsaw.classifier) as logits:
        loss = jigsaw(as_views([images]), StepContext()).loss
    tiles, cells = seen[0][0].view(B, 9, *seen[0][0].shape[1:]), grid_cells(images)
    labels = []
    for b in range(B):
        order = torch.tensor([which_cell(tile, cells[b]) for tile in tiles[b]])  # position i shows cell
        (label,) = [i for i, perm in enumerate(jigsaw.permutations) if torch.equal(perm, order)]
        labels.append(label)
    assert_same(loss, cross_entropy(logits[0], torch.tensor(labels)), FP32)


def test_relative_patch_predicts_the_neighbours_position_with_cross_entropy():
    """Doersch et al., ICCV 2015: the centre tile and one of its 8 neighbours, 8-way cross-entropy on the
    neighbour's position (row-major around the centre: 0 1 2 / 3 _ 4 / 5 6 7)."""
    torch.manual_seed(9)
    model = RelativePatchLocation(*tiny(), tile_keep=1.0, hidden_dim=16)
    (images,) = views(1)
    with record(model.backbone, inputs=True) as seen, record(model.classifier) as logits:
        loss = model(as_views([images]), StepContext()).loss
    shown, cells = seen[0][0], grid_cells(images)  # (2B, C, s, s): centres, then neighbours
    position = {0: 0, 1: 1, 2: 2, 3: 3, 5: 4, 6: 5, 7: 6, 8: 7}
    assert all(which_cell(shown[b], cells[b]) == 4 for b in range(B))
    labels = torch.tensor([position[which_cell(shown[B + b], cells[b])] for b in range(B)])
    assert_same(loss, cross_entropy(logits[0], labels), FP32)


def test_deepcluster_is_cross_entropy_on_the_items_pseudo_labels():
    """Caron et al., ECCV 2018: min 1/N sum_n l(g_W(f(x_n)), y_n) with y_n the k-means assignment."""
    torch.manual_seed(10)
    deepcluster = DeepCluster(*tiny(), num_clusters=4)
    deepcluster.pseudo_labels = torch.tensor([3, 0, 2, 1, 1, 0, 2, 3, 0, 1])  # (N,) for 10 items
    positions = torch.tensor([9, 0, 4, 2, 7, 5])  # the batch's item indices
    with record(deepcluster.classifier) as logits:
        loss = deepcluster(as_views(views(1)), StepContext(indices=positions)).loss
    assert_same(loss, cross_entropy(logits[0], torch.tensor([1, 3, 1, 2, 3, 0])), FP32)


# --- MAE: He et al., CVPR 2022: per-patch normalised MSE on the masked patches only ------------------


def mae_patchify(images: torch.Tensor, p: int) -> torch.Tensor:
    """As the authors' code: (N, C, H, W) -> (N, L, p*p*C), 'nchpwq->nhwpqc'."""
    n, c, h, w = images.shape
    x = images.reshape(n, c, h // p, p, w // p, p)
    return torch.einsum("nchpwq->nhwpqc", x).reshape(n, (h // p) * (w // p), p * p * c)


def mae_loss(images, prediction, mask, p) -> torch.Tensor:
    """target normalised per patch (mean, unbiased var + 1e-6); loss = (pred - target)^2 mean over the
    patch's pixels, then mean over the removed patches (mask 1)."""
    target = mae_patchify(images, p)
    mean, var = target.mean(dim=-1, keepdim=True), target.var(dim=-1, keepdim=True)
    target = (target - mean) / (var + 1e-6) ** 0.5
    per_patch = (prediction - target).pow(2).mean(dim=-1)
    return (per_patch * mask).sum() / mask.sum()


def test_mae_loss_is_the_normalised_pixel_mse_on_masked_patches():
    torch.manual_seed(11)
    images = torch.randn(3, 3, SIDE, SIDE, dtype=torch.float64)
    prediction = leaf(torch.randn(3, 64, 12))
    mask = (torch.rand(3, 64) < 0.75).double()
    got = masked_patch_loss(prediction, normalised_patches(mae_patchify(images, 2)), mask.bool())
    want = mae_loss(images, prediction, mask, 2)
    assert_same(got, want, FP64)
    assert_same(grad_of(got, prediction)[0], grad_of(want, prediction)[0], FP64)

    backbone, dim = build_backbone("vit_tiny", SIDE)  # 8x8 grid of 2-px patches
    mae = MAE(backbone, dim, decoder_depth=1)
    (images,) = views(1)
    with record(mae.decoder, inputs=True) as decoder_in, record(mae.decoder) as prediction:
        loss = mae(as_views([images]), StepContext()).loss
    ids_restore = decoder_in[0][1]  # (B, L): argsort of the shuffle, as in the authors' random_masking
    len_keep = int(64 * (1 - 0.75))
    mask = (ids_restore >= len_keep).double()  # 1 = removed: the patches past len_keep in shuffled order
    assert mask.sum(1).tolist() == [48.0] * B
    assert_same(loss, mae_loss(images.double(), prediction[0].double(), mask, 2), FP32)


# --- Pixel pretext tasks: L2 reconstruction (mean over the target's elements in sslcli) --------------
# The papers write sums (Pathak et al. Eq. (1): ||M (x - F((1 - M) x))||^2; Vincent et al.: squared
# error; SRCNN: 1/n sum_i ||F(Y_i) - X_i||^2; Zhang et al. Eq. (1): 1/2 sum ||Y - Y^||^2). sslcli
# averages over the target's elements instead: a constant factor (the learning rate absorbs it).


def test_inpainting_is_l2_on_the_central_hole():
    """Pathak et al., CVPR 2016: the centre square (half the side) is removed from the input and is the
    reconstruction target."""
    torch.manual_seed(12)
    model = Inpainting(*tiny(), spec=SQUARE_RGB)
    (images,) = views(1)
    with record(model.backbone, inputs=True) as seen, record(model.decoder) as painted:
        loss = model(as_views([images]), StepContext()).loss
    hole = (slice(None), slice(None), slice(4, 12), slice(4, 12))
    context = images.clone()
    context[hole] = 0
    assert torch.equal(seen[0][0], context)
    assert_same(loss, (painted[0].double() - images[hole].double()).pow(2).mean(), FP32)


def test_denoising_reconstructs_the_clean_input():
    """Vincent et al., ICML 2008: encode the corrupted x~, reconstruct the clean x."""
    torch.manual_seed(13)
    model = DenoisingAutoencoder(*tiny(), spec=SQUARE_RGB, noise_std=0.5)
    (images,) = views(1)
    with record(model.backbone, inputs=True) as seen, record(model.decoder) as restored:
        loss = model(as_views([images]), StepContext()).loss
    assert not torch.equal(seen[0][0], images)  # the network sees the corrupted copy
    assert_same(loss, (restored[0].double() - images.double()).pow(2).mean(), FP32)


def test_super_resolution_regresses_the_sharp_image_from_its_bicubic_upsampling():
    """Dong et al., TPAMI 2016 (SRCNN): the input is the low-resolution image upscaled bicubically."""
    torch.manual_seed(14)
    model = SuperResolution(*tiny(), spec=SQUARE_RGB, factor=2)
    (images,) = views(1)
    with record(model.backbone, inputs=True) as seen, record(model.decoder) as sharp:
        loss = model(as_views([images]), StepContext()).loss
    low = F.avg_pool2d(images, 2)  # block means
    assert_same(seen[0][0], F.interpolate(low, size=(SIDE, SIDE), mode="bicubic", align_corners=False), FP32)
    assert_same(loss, (sharp[0].double() - images.double()).pow(2).mean(), FP32)


def srgb_to_ab(rgb: torch.Tensor) -> torch.Tensor:
    """CIE 1976 a*, b* of sRGB in [0, 1] (IEC 61966-2-1, D65 white): (B, 3, H, W) -> (B, 2, H, W)."""
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    to_xyz = torch.tensor(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ],
        dtype=rgb.dtype,
    )
    xyz = torch.einsum("ij,bjhw->bihw", to_xyz, linear)
    xyz = xyz / torch.tensor([0.95047, 1.0, 1.08883], dtype=rgb.dtype)[None, :, None, None]
    delta = 6 / 29
    f = torch.where(xyz > delta**3, xyz.clamp(min=1e-12) ** (1 / 3), xyz / (3 * delta**2) + 4 / 29)
    return torch.stack([500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], dim=1)


def test_colorization_regresses_the_ab_channels():
    """Zhang et al., ECCV 2016, the L2 regression variant: predict a, b (scaled by 1/110 in sslcli)."""
    torch.manual_seed(15)
    means, stds = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet's, as the natural domain's
    spec = InputSpec("image2d", 3, (SIDE, SIDE), colour=True, normalisation=ChannelNormalisation(means, stds))
    model = Colorization(*tiny(), spec=spec)  # undoes the normalisation the spec records
    rgb = torch.rand(B, 3, SIDE, SIDE)
    mean, std = torch.tensor(means)[None, :, None, None], torch.tensor(stds)[None, :, None, None]
    with record(model.decoder) as ab:
        loss = model(as_views([(rgb - mean) / std]), StepContext()).loss
    target = srgb_to_ab(rgb.double()) / 110
    assert_same(loss, (ab[0].double() - target).pow(2).mean(), dict(rtol=1e-4, atol=1e-6))  # fp32 Lab
