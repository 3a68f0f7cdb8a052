"""Method losses against independent references: closed forms, naive loops and invariances."""

import math

import pytest
import torch
import torch.nn.functional as F

from sslcli.methods import StepContext
from sslcli.methods.barlow_twins import barlow_twins_loss
from sslcli.methods.byol import BYOL, byol_regression
from sslcli.methods.dino import DINO, dino_loss, teacher_temperature
from sslcli.methods.mae import MAE, masked_patch_loss, normalised_patches
from sslcli.methods.moco import MoCoV2, moco_loss
from sslcli.methods.momentum import cosine_momentum, ema_update
from sslcli.methods.simsiam import negative_cosine
from sslcli.methods.vicreg import vicreg_loss
from sslcli.models import build_backbone
from tests.conftest import as_views


def naive_cross_entropy(logits_row: list[float], target: int) -> float:
    top = max(logits_row)
    return -(logits_row[target] - top - math.log(sum(math.exp(v - top) for v in logits_row)))


def test_moco_loss_matches_a_per_query_loop():
    torch.manual_seed(0)
    q, k = F.normalize(torch.randn(5, 8), dim=1), F.normalize(torch.randn(5, 8), dim=1)
    queue, tau = F.normalize(torch.randn(7, 8), dim=1), 0.2
    expected = 0.0
    for i in range(5):
        row = [float(q[i] @ k[i]) / tau] + [float(q[i] @ queue[j]) / tau for j in range(7)]
        expected += naive_cross_entropy(row, 0) / 5
    assert moco_loss(q, k, queue, tau).item() == pytest.approx(expected, rel=1e-5)


def test_moco_queue_wraps_around_and_keys_follow_the_momentum_rule():
    torch.manual_seed(0)
    backbone, dim = build_backbone("resnet10", 16)
    moco = MoCoV2(backbone, dim, queue_size=12, hidden_dim=32, projection_dim=8)
    keys = [F.normalize(torch.randn(8, 8), dim=1) for _ in range(2)]
    moco._enqueue(keys[0])
    moco._enqueue(keys[1])  # slots 8..11 then wraps to 0..3
    assert torch.equal(moco.queue[8:12], keys[1][:4]) and torch.equal(moco.queue[:4], keys[1][4:])
    assert torch.equal(moco.queue[4:8], keys[0][4:]) and int(moco.queue_ptr) == 4
    online = dict(moco.projector.named_parameters())
    before = {n: p.clone() for n, p in moco.key_projector.named_parameters()}
    with torch.no_grad():
        for p in online.values():
            p.add_(1.0)
    moco.on_step_end(StepContext(step=1, total_steps=10))
    for name, key_param in moco.key_projector.named_parameters():
        assert torch.allclose(key_param, 0.999 * before[name] + 0.001 * online[name], atol=1e-6)


def test_ema_update_and_cosine_momentum_closed_forms():
    target, online = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    expected = 0.9 * target.weight.detach() + 0.1 * online.weight.detach()
    ema_update(target, online, 0.9)
    assert torch.allclose(target.weight, expected)
    assert cosine_momentum(0, 100, 0.996) == pytest.approx(0.996)
    assert cosine_momentum(50, 100, 0.996) == pytest.approx(0.998)
    assert cosine_momentum(100, 100, 0.996) == pytest.approx(1.0)


def test_byol_regression_closed_forms():
    x = torch.tensor([[3.0, 0.0], [0.0, 2.0]])
    assert byol_regression(x, 5 * x).item() == pytest.approx(0.0, abs=1e-6)  # same direction
    assert byol_regression(x, x.flip(1)).item() == pytest.approx(2.0)  # orthogonal: 2 - 2 * 0
    assert byol_regression(x, -x).item() == pytest.approx(4.0)  # opposite


def test_byol_loss_is_symmetric_in_its_two_views():
    torch.manual_seed(0)
    backbone, dim = build_backbone("resnet10", 16)
    byol = BYOL(backbone, dim, hidden_dim=64, projection_dim=16)
    a, b = torch.randn(6, 3, 16, 16), torch.randn(6, 3, 16, 16)
    with torch.no_grad():
        assert byol(as_views([a, b]), StepContext()).loss.item() == pytest.approx(
            byol(as_views([b, a]), StepContext()).loss.item(), rel=1e-4
        )
    assert not any(p.requires_grad for p in byol.target_backbone.parameters())


def test_simsiam_negative_cosine_closed_form_and_stop_gradient():
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    z = torch.tensor([[2.0, 0.0], [1.0, 0.0]], requires_grad=True)
    loss = negative_cosine(p, z)  # rows: cos 1 and cos 0
    assert loss.item() == pytest.approx(-0.5)
    loss.backward()
    assert z.grad is None and p.grad is not None


def test_barlow_twins_matches_double_loop():
    torch.manual_seed(1)
    a, b, lam = torch.randn(10, 4), torch.randn(10, 4), 5e-3
    za = (a - a.mean(0)) / a.std(0, unbiased=False)
    zb = (b - b.mean(0)) / b.std(0, unbiased=False)
    expected = 0.0
    for i in range(4):
        for j in range(4):
            c = sum(float(za[n, i] * zb[n, j]) for n in range(10)) / 10
            expected += (1 - c) ** 2 if i == j else lam * c**2
    assert barlow_twins_loss(a, b, lam).item() == pytest.approx(expected, rel=1e-4)


def test_barlow_twins_is_zero_for_identical_decorrelated_embeddings():
    z = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])  # standardised, uncorrelated
    assert barlow_twins_loss(z, z, 5e-3).item() == pytest.approx(0.0, abs=1e-4)


def naive_vicreg(a: torch.Tensor, b: torch.Tensor) -> float:
    n, d = a.shape
    invariance = sum(float((a[i, j] - b[i, j]) ** 2) for i in range(n) for j in range(d)) / (n * d)
    total = 25 * invariance
    for z in (a, b):
        mean = [sum(float(z[i, j]) for i in range(n)) / n for j in range(d)]

        def cov(j, k, z=z, mean=mean):
            return sum((float(z[i, j]) - mean[j]) * (float(z[i, k]) - mean[k]) for i in range(n)) / (n - 1)

        # the two views' hinges are averaged (authors' code; see sslcli/methods/vicreg.py)
        total += 25 * sum(max(0.0, 1 - math.sqrt(cov(j, j) + 1e-4)) for j in range(d)) / d / 2
        total += sum(cov(j, k) ** 2 for j in range(d) for k in range(d) if j != k) / d
    return total


def test_vicreg_matches_naive_sums():
    torch.manual_seed(2)
    a, b = 0.3 * torch.randn(7, 3), 0.3 * torch.randn(7, 3)  # std < 1: the variance hinge is active
    assert vicreg_loss(a, b).item() == pytest.approx(naive_vicreg(a, b), rel=1e-4)


def naive_dino(student, teacher, center, ts, tt) -> float:
    total, pairs = 0.0, 0
    for i, t in enumerate(teacher):
        for j, s in enumerate(student):
            if i == j:
                continue
            for row in range(len(t)):
                tl = [(float(t[row, k]) - float(center[0, k])) / tt for k in range(t.shape[1])]
                sl = [float(s[row, k]) / ts for k in range(s.shape[1])]
                tz, sz = sum(math.exp(v) for v in tl), max(sl)
                log_norm = sz + math.log(sum(math.exp(v - sz) for v in sl))
                total += -sum(math.exp(tl[k]) / tz * (sl[k] - log_norm) for k in range(len(tl))) / len(t)
            pairs += 1
    return total / pairs


def test_dino_loss_matches_a_naive_loop_over_crop_pairs():
    torch.manual_seed(3)
    student = [torch.randn(3, 5) for _ in range(4)]  # 2 global + 2 local crops
    teacher = [torch.randn(3, 5) for _ in range(2)]
    center = torch.randn(1, 5)
    got = dino_loss(student, teacher, center, 0.1, 0.04).item()
    assert got == pytest.approx(naive_dino(student, teacher, center, 0.1, 0.04), rel=1e-4)


def test_dino_centring_cancels_a_shift_shared_by_teacher_and_centre():
    torch.manual_seed(4)
    student = [torch.randn(3, 5) for _ in range(3)]
    teacher = [torch.randn(3, 5) for _ in range(2)]
    center, shift = torch.randn(1, 5), torch.randn(1, 5)
    base = dino_loss(student, teacher, center, 0.1, 0.05)
    shifted = dino_loss(student, [t + shift for t in teacher], center + shift, 0.1, 0.05)
    per_row_constant = dino_loss(student, [t + 7.0 for t in teacher], center, 0.1, 0.05)
    assert shifted.item() == pytest.approx(base.item(), rel=1e-5)
    assert per_row_constant.item() == pytest.approx(base.item(), rel=1e-5)


def test_dino_centre_is_an_ema_of_the_teacher_mean_and_temperature_warms_up():
    torch.manual_seed(5)
    backbone, dim = build_backbone("resnet10", 16)
    dino = DINO(backbone, dim, out_dim=16)
    views = [torch.randn(4, 3, 16, 16) for _ in range(2)] + [torch.randn(4, 3, 8, 8)]
    with torch.no_grad():
        teacher = dino.teacher_head(dino.teacher_backbone(torch.cat(views[:2])))
        dino(as_views(views), StepContext())
    assert torch.allclose(dino.center, 0.1 * teacher.mean(0, keepdim=True), atol=1e-6)
    assert teacher_temperature(0.0, 0.04, 0.07, 0.3) == pytest.approx(0.04)
    assert teacher_temperature(0.15, 0.04, 0.07, 0.3) == pytest.approx(0.055)
    assert teacher_temperature(0.9, 0.04, 0.07, 0.3) == pytest.approx(0.07)


def test_mae_loss_matches_a_loop_over_hidden_patches():
    torch.manual_seed(6)
    pred, target = torch.randn(2, 4, 3), torch.randn(2, 4, 3)
    mask = torch.tensor([[True, False, True, False], [False, False, False, True]])
    errors = [
        sum(float(pred[b, i, c] - target[b, i, c]) ** 2 for c in range(3)) / 3
        for b in range(2)
        for i in range(4)
        if mask[b, i]
    ]
    assert masked_patch_loss(pred, target, mask).item() == pytest.approx(sum(errors) / len(errors), rel=1e-5)
    patch = torch.tensor([[[1.0, 2.0, 3.0, 6.0]]])
    expected = (patch - 3.0) / math.sqrt(14.0 / 3 + 1e-6)  # mean 3, unbiased variance 14/3
    assert torch.allclose(normalised_patches(patch), expected)


def test_mae_encoder_sees_only_the_visible_patches():
    torch.manual_seed(7)
    backbone, dim = build_backbone("vit_tiny", 16)  # 8x8 grid of 2-px patches
    mae = MAE(backbone, dim, decoder_depth=1)
    seen = []
    mae.backbone.blocks[0].register_forward_pre_hook(lambda module, args: seen.append(args[0].shape))
    mae(as_views([torch.randn(3, 3, 16, 16)]), StepContext())
    assert seen == [torch.Size([3, 16, 192])]  # 25% of 64 patches
    seen.clear()
    assert mae.backbone(torch.randn(3, 3, 16, 16)).shape == (3, 192)  # embed: every patch, pooled
    assert seen == [torch.Size([3, 64, 192])]


def test_mae_refuses_a_convolutional_backbone():
    backbone, dim = build_backbone("resnet10", 16)
    with pytest.raises(ValueError, match="tokens are patches"):
        MAE(backbone, dim)
